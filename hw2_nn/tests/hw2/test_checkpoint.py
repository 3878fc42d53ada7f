"""needle.checkpoint: one safe file (npz + JSON, never pickle) for model, optimiser, scheduler,
epoch and generators; a run resumed from it matches an uninterrupted run bitwise."""
import needle as ndl
import numpy as np
import pytest
from needle.checkpoint import load_checkpoint, save_checkpoint
from needle.data import DataLoader, NDArrayDataset


class Affine(ndl.nn.Module):
    """A test-local module built from given code only (no hw2 stubs): ``x @ weight``."""

    def __init__(self, seed):
        super().__init__()
        self.weight = ndl.nn.Parameter(np.random.default_rng(seed).standard_normal((3, 2)).astype(np.float32))

    def forward(self, x):
        return x @ self.weight


# ---- given code: the file format --------------------------------------------------------------

def test_checkpoint_round_trips_every_piece(tmp_path):
    model, data = Affine(0), NDArrayDataset(np.arange(10))
    opt = ndl.optim.Adam(model.parameters(), lr=0.01)
    opt.load_state_dict({"state": {0: {"step": 4, "exp_avg": np.full((3, 2), 0.5, np.float32),
                                       "exp_avg_sq": np.full((3, 2), 0.25, np.float32)}},
                         "param_groups": [{"lr": 0.003, "betas": [0.9, 0.99], "eps": 1e-7,
                                           "weight_decay": 0.0, "params": [0]}]})
    scheduler = ndl.optim.CosineAnnealingLR(opt, T_max=10)
    scheduler.last_epoch = 3
    loader = DataLoader(data, 4, shuffle=True, seed=5)
    list(loader.sampler)  # advance its generator
    ndl.manual_seed(17)
    expected_draw = ndl.init.default_generator().random()
    ndl.manual_seed(17)
    save_checkpoint(tmp_path / "run.npz", model=model, optimizer=opt, scheduler=scheduler, epoch=7,
                    dataloader=loader)

    ndl.manual_seed(99)
    model2, loader2 = Affine(1), DataLoader(data, 4, shuffle=True, seed=6)
    opt2 = ndl.optim.Adam(model2.parameters(), lr=1.0)
    scheduler2 = ndl.optim.CosineAnnealingLR(opt2, T_max=10)
    assert load_checkpoint(tmp_path / "run.npz", model2, opt2, scheduler2, loader2,
                           restore_rng=True) == 7
    np.testing.assert_array_equal(model2.weight.numpy(), model.weight.numpy())
    ours, theirs = opt2.state_dict(), opt.state_dict()
    assert ours["param_groups"] == theirs["param_groups"] and opt2.t == 4
    np.testing.assert_array_equal(ours["state"][0]["exp_avg_sq"], theirs["state"][0]["exp_avg_sq"])
    assert scheduler2.state_dict() == scheduler.state_dict()
    assert list(loader2.sampler) == list(loader.sampler)  # the same next shuffle
    assert ndl.init.default_generator().random() == expected_draw


def test_checkpoint_file_holds_no_pickle(tmp_path):
    model = Affine(0)
    save_checkpoint(tmp_path / "run.npz", model=model, optimizer=ndl.optim.SGD(model.parameters()))
    with np.load(tmp_path / "run.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
        assert "meta" in archive.files and "state/model/weight" in archive.files


def test_load_checkpoint_refuses_pickles_and_foreign_files(tmp_path):
    np.savez(tmp_path / "evil.npz", meta=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_checkpoint(tmp_path / "evil.npz", Affine(0))
    np.savez(tmp_path / "weights.npz", weight=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="is not a needle checkpoint"):
        load_checkpoint(tmp_path / "weights.npz", Affine(0))
    save_checkpoint(tmp_path / "model_only.npz", model=Affine(0))
    with pytest.raises(ValueError, match="the checkpoint holds no optimizer state"):
        load_checkpoint(tmp_path / "model_only.npz", Affine(0), ndl.optim.SGD(Affine(0).parameters()))


def test_loading_weights_leaves_needles_random_state_alone(tmp_path):
    ndl.manual_seed(3)
    save_checkpoint(tmp_path / "run.npz", model=Affine(0))
    ndl.manual_seed(8)
    expected = ndl.init.default_generator().random()
    ndl.manual_seed(8)
    load_checkpoint(tmp_path / "run.npz", Affine(1))
    assert ndl.init.default_generator().random() == expected


def test_a_given_random_samplers_generator_is_saved_and_restored(tmp_path):
    data = NDArrayDataset(np.arange(12))
    loader = DataLoader(data, 4, sampler=ndl.data.RandomSampler(data, generator=np.random.default_rng(2)))
    list(loader.sampler)  # one epoch's shuffle
    save_checkpoint(tmp_path / "run.npz", dataloader=loader)
    resumed = DataLoader(data, 4, sampler=ndl.data.RandomSampler(data, generator=np.random.default_rng(7)))
    load_checkpoint(tmp_path / "run.npz", dataloader=resumed)
    assert list(resumed.sampler) == list(loader.sampler)  # the same next shuffle


def test_a_damaged_checkpoint_is_a_value_error(tmp_path):
    import json
    for meta in ([1, 2], {"format": "needle-checkpoint-1", "epoch": 2},
                 {"format": "needle-checkpoint-1", "epoch": "2", "model": None, "optimizer": None,
                  "scheduler": None, "default_generator": None, "dataloader_generator": None}):
        np.savez(tmp_path / "bad.npz", meta=np.array(json.dumps(meta)))
        with pytest.raises(ValueError, match=r"load_checkpoint: .*bad\.npz"):
            load_checkpoint(tmp_path / "bad.npz", Affine(0))
    save_checkpoint(tmp_path / "run.npz", model=Affine(0))
    with np.load(tmp_path / "run.npz") as archive:
        entries = dict(archive)
    tree = json.loads(str(entries["meta"]))
    tree["default_generator"] = {"bit_generator": "nonsense"}
    entries["meta"] = np.array(json.dumps(tree))
    np.savez(tmp_path / "bad.npz", **entries)
    with pytest.raises(ValueError, match="default generator does not fit"):
        load_checkpoint(tmp_path / "bad.npz", Affine(0), restore_rng=True)


def test_save_checkpoint_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="save_checkpoint: optimizer must be a Optimizer or None, got list"):
        save_checkpoint(tmp_path / "x.npz", optimizer=[])
    with pytest.raises(TypeError, match=r"save_checkpoint: epoch must be an int, got 1\.5"):
        save_checkpoint(tmp_path / "x.npz", epoch=1.5)


# ---- questions 3-5: a resumed run matches an uninterrupted one bitwise ------------------------

def train(model, opt, scheduler, loader, epochs):
    loss_fn = ndl.nn.SoftmaxLoss()
    model.train()
    for _ in range(epochs):
        for X, y in loader:
            opt.reset_grad()
            loss_fn(model(X), y).backward()
            opt.step()
        scheduler.step()


def setup(seed, loader_seed):
    ndl.manual_seed(seed)
    model = ndl.nn.Sequential(ndl.nn.Linear(4, 8), ndl.nn.ReLU(), ndl.nn.Dropout(0.3), ndl.nn.Linear(8, 3))
    opt = ndl.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.01)
    scheduler = ndl.optim.CosineAnnealingLR(opt, T_max=5, eta_min=0.001)
    rng = np.random.default_rng(0)
    data = NDArrayDataset(rng.standard_normal((22, 4)).astype(np.float32), rng.integers(0, 3, 22))
    return model, opt, scheduler, DataLoader(data, 5, shuffle=True, seed=loader_seed)


@pytest.mark.question(5)
def test_a_run_resumed_from_a_checkpoint_matches_an_uninterrupted_run_bitwise(tmp_path):
    model, opt, scheduler, loader = setup(0, 1)
    train(model, opt, scheduler, loader, 4)
    straight = [p.numpy().copy() for p in model.parameters()]

    model, opt, scheduler, loader = setup(0, 1)
    train(model, opt, scheduler, loader, 2)
    save_checkpoint(tmp_path / "epoch2.npz", model=model, optimizer=opt, scheduler=scheduler, epoch=2,
                    dataloader=loader)
    model, opt, scheduler, loader = setup(5, 9)  # other weights and shuffles: all overwritten
    assert load_checkpoint(tmp_path / "epoch2.npz", model, opt, scheduler, loader,
                           restore_rng=True) == 2
    train(model, opt, scheduler, loader, 2)
    for got, want in zip(model.parameters(), straight, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    assert not np.array_equal(straight[0], setup(0, 1)[0].parameters()[0].numpy())  # it trained
