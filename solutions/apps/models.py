"""hw5: ResNet9 for CIFAR-10 and word-level language models (RNN, LSTM or Transformer), with
their training and evaluation loops.

Usage (trains on the repository's news sample, or on PTB / CIFAR-10 after ``make data``):
    python apps/models.py lm [--seq-model lstm] [--epochs 4] [--data data/news] [--out DIR]
    python apps/models.py cifar10 [--epochs 1] [--data data/cifar-10-batches-py] [--out DIR]
Both take ``--device cpu|cuda|cuda_emu`` (default cpu): the model's parameters and every batch
are made there.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

# Run as a script from anywhere: this homework's python/ (needle), src/ (hw0) and root (apps).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "src"), str(ROOT)]

import needle as ndl  # noqa: E402
import needle.nn as nn  # noqa: E402
import numpy as np  # noqa: E402
from needle.checkpoint import save_checkpoint  # noqa: E402


def ConvBN(in_channels: int, out_channels: int, kernel_size: int, stride: int, device=None,
           dtype: str = "float32") -> nn.Module:
    """``Conv`` -> ``BatchNorm2d`` -> ``ReLU``: ``(N, C_in, H, W)`` -> ``(N, C_out, H / stride,
    W / stride)``."""
    ### BEGIN SOLUTION hw5
    return nn.Sequential(
        nn.Conv(in_channels, out_channels, kernel_size, stride=stride, device=device, dtype=dtype),
        nn.BatchNorm2d(out_channels, device=device, dtype=dtype),
        nn.ReLU())
    ### END SOLUTION


class ResNet9(nn.Module):
    """The small residual network of CMU's 10-414 hw4 (after Page's DAWNBench ResNet9) for
    ``(N, 3, 32, 32)`` images -> ``(N, 10)`` logits, 431,946 parameters::

        ConvBN(3, 16, 7, 4), ConvBN(16, 32, 3, 2),
        Residual(ConvBN(32, 32, 3, 1), ConvBN(32, 32, 3, 1)),
        ConvBN(32, 64, 3, 2), ConvBN(64, 128, 3, 2),
        Residual(ConvBN(128, 128, 3, 1), ConvBN(128, 128, 3, 1)),
        Flatten, Linear(128, 128), ReLU, Linear(128, 10)
    """

    def __init__(self, device=None, dtype: str = "float32"):
        super().__init__()
        ### BEGIN SOLUTION hw5
        def block(c_in, c_out, k, s):
            return ConvBN(c_in, c_out, k, s, device=device, dtype=dtype)

        self.model = nn.Sequential(
            block(3, 16, 7, 4), block(16, 32, 3, 2),
            nn.Residual(nn.Sequential(block(32, 32, 3, 1), block(32, 32, 3, 1))),
            block(32, 64, 3, 2), block(64, 128, 3, 2),
            nn.Residual(nn.Sequential(block(128, 128, 3, 1), block(128, 128, 3, 1))),
            nn.Flatten(),
            nn.Linear(128, 128, device=device, dtype=dtype), nn.ReLU(),
            nn.Linear(128, 10, device=device, dtype=dtype))
        ### END SOLUTION

    def forward(self, x: ndl.Tensor) -> ndl.Tensor:
        ### BEGIN SOLUTION hw5
        return self.model(x)
        ### END SOLUTION


class LanguageModel(nn.Module):
    """A word-level language model: ``Embedding`` -> sequence model -> ``Linear`` to the vocabulary.

    ``forward(x, h=None)``: ids ``x`` ``(seq_len, batch)`` -> ``(logits (seq_len * batch,
    output_size), h)``, rows in the order of ``x`` flattened row by row (``get_batch``'s targets),
    ``h`` the sequence model's final state to carry into the next batch.

    Args:
        embedding_size: size of each word vector.
        output_size: vocabulary size.
        hidden_size: the RNN's or LSTM's state size, or the Transformer's MLP width.
        num_layers: layers of the sequence model.
        seq_model: "rnn", "lstm" or "transformer".
        seq_len: the longest sequence the Transformer's positional embedding covers.

    Raises:
        ValueError: for another ``seq_model``.
    """

    def __init__(self, embedding_size: int, output_size: int, hidden_size: int, num_layers: int = 1,
                 seq_model: str = "rnn", seq_len: int = 40, device=None, dtype: str = "float32"):
        super().__init__()
        if seq_model not in ("rnn", "lstm", "transformer"):
            raise ValueError(f"LanguageModel: seq_model must be 'rnn', 'lstm' or 'transformer', "
                             f"got {seq_model!r}")
        self.output_size = output_size
        # Given: the tests set these weights by name.
        self.embedding = nn.Embedding(output_size, embedding_size, device=device, dtype=dtype)
        if seq_model == "transformer":
            self.seq_model = nn.Transformer(embedding_size, hidden_size, num_layers,
                                            sequence_len=seq_len, device=device, dtype=dtype)
            features = embedding_size
        else:
            cls = nn.RNN if seq_model == "rnn" else nn.LSTM
            self.seq_model = cls(embedding_size, hidden_size, num_layers, device=device, dtype=dtype)
            features = hidden_size
        self.linear = nn.Linear(features, output_size, device=device, dtype=dtype)

    def forward(self, x: ndl.Tensor, h=None):
        ### BEGIN SOLUTION hw5
        T, B = x.shape
        out, h = self.seq_model(self.embedding(x), h)
        return self.linear(ndl.ops.reshape(out, (T * B, out.shape[2]))), h
        ### END SOLUTION

    def generate(self, prompt, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, *, dictionary=None, seed: int | None = None,
                 generator: np.random.Generator | None = None) -> list:
        """Continue ``prompt`` by sampling ``max_new_tokens`` tokens, one at a time, each from the
        model's next-token distribution given everything before it (autoregressive sampling).

        Each step divides the last position's logits by ``temperature`` (below 1 sharpens the
        distribution, above 1 flattens it), keeps only the ``top_k`` largest when given (top-k
        sampling, Fan et al. 2018, "Hierarchical Neural Story Generation"; ``top_k=1`` is greedy
        decoding: always the argmax), and draws from their softmax. The RNN and LSTM carry their
        state from step to step; the Transformer, which keeps none, reads the last ``seq_len``
        tokens again at each step (its positional embedding covers no more). Runs in evaluation
        mode without recording a graph (``no_grad``); the model's training mode is restored.

        Args:
            prompt: a non-empty sequence of token ids (ints in ``0 .. output_size - 1``), or of
                words (str) when ``dictionary`` is given.
            max_new_tokens: how many tokens to generate (0 or more).
            temperature: a float > 0.
            top_k: sample among the ``top_k`` most likely tokens (an int >= 1; more than the
                vocabulary means all of it), or None for the whole vocabulary.
            dictionary: a ``needle.data.Dictionary`` (``word2idx``, ``idx2word``): words in, words
                out.
            seed: seeds a new ``numpy.random.default_rng`` for the draws (the same seed, the same
                text); ignored when ``generator`` is given.
            generator: a ``numpy.random.Generator`` to draw from.

        Returns:
            The ``max_new_tokens`` generated tokens (the prompt excluded): ids (ints), or words
            when ``prompt`` is words.

        Raises:
            ValueError: for ``temperature <= 0``, ``top_k < 1``, a negative ``max_new_tokens``,
                an empty prompt, an id outside the vocabulary, or words without a dictionary.
            KeyError: for a word the dictionary does not hold.
            TypeError: for a ``top_k`` or ``max_new_tokens`` that is not an int.
        """
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
                or not temperature > 0:
            raise ValueError(f"generate: temperature must be a number > 0, got {temperature!r}")
        if top_k is not None:
            if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool):
                raise TypeError(f"generate: top_k must be an int or None, got {top_k!r}")
            if top_k < 1:
                raise ValueError(f"generate: top_k must be at least 1, got {top_k}")
        if not isinstance(max_new_tokens, (int, np.integer)) or isinstance(max_new_tokens, bool):
            raise TypeError(f"generate: max_new_tokens must be an int, got {max_new_tokens!r}")
        if max_new_tokens < 0:
            raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        tokens = list(prompt)
        if not tokens:
            raise ValueError("generate: the prompt is empty; give at least one token")
        words = any(isinstance(t, str) for t in tokens)
        if words:
            if dictionary is None:
                raise ValueError(f"generate: the prompt holds words ({tokens[0]!r}, ...): pass the "
                                 f"corpus's dictionary= to map them to ids")
            missing = [t for t in tokens if t not in dictionary.word2idx]
            if missing:
                raise KeyError(f"generate: {missing[0]!r} is not in the dictionary")
            ids = [dictionary.word2idx[t] for t in tokens]
        else:
            ids = [int(t) for t in tokens]
            bad = [t for t in ids if not 0 <= t < self.output_size]
            if bad:
                raise ValueError(f"generate: token id {bad[0]} is outside the vocabulary "
                                 f"0..{self.output_size - 1}")
        rng = generator if generator is not None else np.random.default_rng(seed)
        transformer = isinstance(self.seq_model, nn.Transformer)
        context = getattr(self.seq_model, "sequence_len", None) if transformer else None
        device = self.embedding.weight.device
        was_training = self.training
        self.eval()
        new: list[int] = []
        try:
            with ndl.no_grad():
                h, feed = None, ids
                for _ in range(max_new_tokens):
                    if transformer:
                        feed = (ids + new)[-context:] if context else ids + new
                    x = ndl.Tensor(np.asarray(feed, dtype=np.float32).reshape(-1, 1),
                                   device=device, dtype="float32")
                    logits, h = self(x, None if transformer else h)
                    scores = logits.numpy()[-1].astype(np.float64) / temperature
                    if top_k is not None and top_k < scores.size:
                        # Exactly k kept; among tied scores the lower id first, as argmax.
                        kept = np.argsort(-scores, kind="stable")[:top_k]
                        masked = np.full_like(scores, -np.inf)
                        masked[kept] = scores[kept]
                        scores = masked
                    probs = np.exp(scores - scores.max())
                    next_id = int(rng.choice(scores.size, p=probs / probs.sum()))
                    new.append(next_id)
                    feed = [next_id]
        finally:
            self.train(was_training)
        return [dictionary.idx2word[i] for i in new] if words else new


# ---- CIFAR-10 ---------------------------------------------------------------------------


def epoch_general_cifar10(dataloader: ndl.data.DataLoader, model: nn.Module, loss_fn=None,
                          opt: ndl.optim.Optimizer | None = None, progress: bool = False
                          ) -> tuple[float, float]:
    """One pass over ``dataloader``: training (``model.train()``, a step per batch) when ``opt``
    is given, else evaluation (``model.eval()``, no graph recorded).

    Returns:
        ``(accuracy, mean loss)`` over all examples; ``loss_fn`` defaults to ``SoftmaxLoss``.
    """
    ### BEGIN SOLUTION hw5
    from tqdm import tqdm
    loss_fn = loss_fn or nn.SoftmaxLoss()
    model.train(opt is not None)
    correct, total_loss, count = 0, 0.0, 0
    for X, y in tqdm(dataloader, desc="train" if opt else "eval", unit="batch", leave=False,
                     disable=None if progress else True):
        if opt is None:
            with ndl.no_grad():
                logits = model(X)
                loss = loss_fn(logits, y)
        else:
            opt.zero_grad()
            logits = model(X)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
        correct += int(np.sum(logits.numpy().argmax(axis=1) == y.numpy()))
        total_loss += loss.item() * y.shape[0]
        count += y.shape[0]
    return correct / count, total_loss / count
    ### END SOLUTION


def train_cifar10(model: nn.Module, dataloader: ndl.data.DataLoader, n_epochs: int = 1,
                  optimizer=ndl.optim.Adam, lr: float = 0.001, weight_decay: float = 0.001,
                  loss_fn=None, test_loader: ndl.data.DataLoader | None = None,
                  out_dir: str | Path | None = None, progress: bool = True) -> tuple[float, float]:
    """Train ``model`` for ``n_epochs``; with ``test_loader``, evaluate after each epoch.

    With ``out_dir``, saves a checkpoint (``state_dict`` as ``.npz``) after each epoch and the
    curves as ``resnet9_curves.png``.

    Returns:
        ``(accuracy, mean loss)`` on the training set in the last epoch.
    """
    opt = optimizer(model.parameters(), lr=lr, weight_decay=weight_decay)
    history, recorder = [], BatchLosses(loss_fn)
    for number in range(n_epochs):
        recorder.next_epoch()
        train_acc, train_loss = epoch_general_cifar10(dataloader, model, recorder, opt, progress)
        row = {"epoch": number + 1, "train accuracy": train_acc, "train loss": train_loss}
        if test_loader is not None:
            row["test accuracy"], row["test loss"] = evaluate_cifar10(model, test_loader, loss_fn)
        history.append(row)
        print("  " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
        _checkpoint(model, history, out_dir, "resnet9", ("accuracy", "loss"),
                    batch_losses=recorder.values)
    return train_acc, train_loss


def evaluate_cifar10(model: nn.Module, dataloader: ndl.data.DataLoader, loss_fn=None
                     ) -> tuple[float, float]:
    """``(accuracy, mean loss)`` of ``model`` in evaluation mode over ``dataloader``."""
    return epoch_general_cifar10(dataloader, model, loss_fn)


# ---- language models ----------------------------------------------------------------------


def _detach(h):
    """Cut a carried state from the previous batch's graph (truncated backpropagation through
    time): a Tensor, a tuple of them, or None."""
    if h is None:
        return None
    return tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()


def epoch_general_ptb(data: np.ndarray, model: nn.Module, seq_len: int = 40, loss_fn=None,
                      opt: ndl.optim.Optimizer | None = None, clip: float | None = None,
                      device=None, dtype: str = "float32", progress: bool = False
                      ) -> tuple[float, float]:
    """One pass over ``batchify``'s ``(rows, batch)`` ids in windows of ``seq_len`` rows, the
    state carried from window to window and detached (truncated BPTT). Trains when ``opt`` is
    given (clipping the gradient norm to ``clip`` when set), else evaluates.

    Returns:
        ``(next-word accuracy, mean loss per token)``; perplexity is ``exp(loss)``.
    """
    ### BEGIN SOLUTION hw5
    from tqdm import tqdm
    loss_fn = loss_fn or nn.SoftmaxLoss()
    model.train(opt is not None)
    h, correct, total_loss, count = None, 0, 0.0, 0
    for i in tqdm(range(0, len(data) - 1, seq_len), desc="train" if opt else "eval", unit="batch",
                  leave=False, disable=None if progress else True):
        X, y = ndl.data.get_batch(data, i, seq_len, device=device, dtype=dtype)
        if opt is None:
            with ndl.no_grad():
                logits, h = model(X, h)
                loss = loss_fn(logits, y)
        else:
            opt.zero_grad()
            logits, h = model(X, _detach(h))
            loss = loss_fn(logits, y)
            loss.backward()
            if clip is not None:
                ndl.optim.clip_grad_norm(model.parameters(), clip)
            opt.step()
        correct += int(np.sum(logits.numpy().argmax(axis=1) == y.numpy()))
        total_loss += loss.item() * y.shape[0]
        count += y.shape[0]
    return correct / count, total_loss / count
    ### END SOLUTION


def train_ptb(model: nn.Module, data: np.ndarray, seq_len: int = 40, n_epochs: int = 1,
              optimizer=ndl.optim.SGD, lr: float = 4.0, weight_decay: float = 0.0, loss_fn=None,
              clip: float | None = None, device=None, dtype: str = "float32",
              valid: np.ndarray | None = None, out_dir: str | Path | None = None,
              progress: bool = True, baselines: dict[str, float] | None = None
              ) -> tuple[float, float]:
    """Train a language model for ``n_epochs`` on ``batchify``'s ids; with ``valid`` (batchified
    too), report its perplexity after each epoch.

    With ``out_dir``, saves a checkpoint after each epoch and the curves as ``lm_curves.png``,
    the perplexities in ``baselines`` (a label -> a perplexity, e.g. ``ngram_perplexities``'s)
    drawn as dotted lines.

    Returns:
        ``(accuracy, mean loss)`` on the training data in the last epoch.
    """
    opt = optimizer(model.parameters(), lr=lr, weight_decay=weight_decay)
    history, recorder = [], BatchLosses(loss_fn)
    for number in range(n_epochs):
        recorder.next_epoch()
        train_acc, train_loss = epoch_general_ptb(data, model, seq_len, recorder, opt, clip, device,
                                                  dtype, progress)
        row = {"epoch": number + 1, "train perplexity": math.exp(train_loss),
               "train accuracy": train_acc}
        if valid is not None:
            valid_acc, valid_loss = evaluate_ptb(model, valid, seq_len, loss_fn, device, dtype)
            row["valid perplexity"], row["valid accuracy"] = math.exp(valid_loss), valid_acc
        history.append(row)
        print("  " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
        _checkpoint(model, history, out_dir, "lm", ("perplexity", "accuracy"), baselines,
                    batch_losses=recorder.values)
    model.history = history
    return train_acc, train_loss


def evaluate_ptb(model: nn.Module, data: np.ndarray, seq_len: int = 40, loss_fn=None, device=None,
                 dtype: str = "float32") -> tuple[float, float]:
    """``(next-word accuracy, mean loss per token)`` of ``model`` in evaluation mode."""
    return epoch_general_ptb(data, model, seq_len, loss_fn, None, None, device, dtype)


def ngram_perplexities(train: np.ndarray, valid: np.ndarray, vocab_size: int,
                       interpolation: float = 0.7) -> dict[str, float]:
    """Perplexities on ``valid`` of two count-based baselines estimated from ``train``: the
    floor a neural language model should beat (Jurafsky and Martin, *Speech and Language
    Processing*, 3rd ed., chapter 3).

    - unigram, add-one (Laplace) smoothing: ``P(w) = (c(w) + 1) / (N + V)``, over every token of
      ``valid``;
    - bigram, linearly interpolated with that unigram: ``P(w | u) = lam c(u, w) / c(u) +
      (1 - lam) P(w)`` (just ``P(w)`` for a ``u`` never seen before another token), ``lam =
      interpolation``, over ``valid``'s tokens after its first.

    Perplexity is ``exp`` of the mean negative log-probability (nats). On the news sample (V =
    3,430 with ``<eos>``): unigram 302, bigram 139.

    Args:
        train, valid: int token ids ``(n,)`` (``Corpus.train``, ``Corpus.valid``).
        vocab_size: ``V``, the dictionary's size (every id below it).
        interpolation: ``lam``, in [0, 1).

    Returns:
        ``{"unigram (add-one)": ..., "bigram (interpolated 0.7)": ...}``.

    Raises:
        ValueError: for an ``interpolation`` outside [0, 1), fewer than two tokens in ``train``
            or ``valid``, or an id outside ``0 .. vocab_size - 1``.
    """
    if not 0 <= interpolation < 1:
        raise ValueError(f"ngram_perplexities: interpolation must be in [0, 1), got {interpolation}")
    train, valid = np.asarray(train, dtype=np.int64), np.asarray(valid, dtype=np.int64)
    if len(train) < 2 or len(valid) < 2:
        raise ValueError(f"ngram_perplexities: need at least 2 tokens in train and valid, got "
                         f"{len(train)} and {len(valid)}")
    for name, ids in (("train", train), ("valid", valid)):
        if ids.min() < 0 or ids.max() >= vocab_size:
            raise ValueError(f"ngram_perplexities: {name} holds ids outside 0..{vocab_size - 1}: "
                             f"{ids.min()}..{ids.max()}")
    unigram = (np.bincount(train, minlength=vocab_size) + 1.0) / (len(train) + vocab_size)
    pairs = train[:-1] * vocab_size + train[1:]
    keys, counts = np.unique(pairs, return_counts=True)
    previous = np.bincount(train[:-1], minlength=vocab_size).astype(np.float64)
    u, w = valid[:-1], valid[1:]
    where = np.searchsorted(keys, u * vocab_size + w).clip(max=len(keys) - 1)
    pair_counts = np.where(keys[where] == u * vocab_size + w, counts[where], 0)
    seen = previous[u] > 0
    bigram = np.where(seen, interpolation * pair_counts / np.where(seen, previous[u], 1.0)
                      + (1 - interpolation) * unigram[w], unigram[w])
    return {"unigram (add-one)": float(np.exp(-np.mean(np.log(unigram[valid])))),
            f"bigram (interpolated {interpolation:g})": float(np.exp(-np.mean(np.log(bigram))))}


class BatchLosses:
    """A loss function that also records each call's value: the training loops pass it as their
    ``loss_fn``, so the curves can show the loss of every minibatch beside the per-epoch means.

    ``values`` holds one list per epoch (``next_epoch`` starts the next), of floats: the mean loss
    per example (nats) of each minibatch, in the order they were trained.

    Args:
        loss_fn: the loss to record, called as ``loss_fn(logits, y)``; None means
            ``nn.SoftmaxLoss()``.
    """

    def __init__(self, loss_fn=None):
        self.loss_fn = loss_fn or nn.SoftmaxLoss()
        self.values: list[list[float]] = []

    def next_epoch(self) -> None:
        self.values.append([])

    def __call__(self, logits: ndl.Tensor, y: ndl.Tensor) -> ndl.Tensor:
        """``loss_fn(logits, y)`` (logits ``(batch, classes)``, labels ``(batch,)``), recorded."""
        loss = self.loss_fn(logits, y)
        if not self.values:
            self.next_epoch()
        self.values[-1].append(float(loss.numpy()))
        return loss


def _checkpoint(model: nn.Module, history: list[dict], out_dir, name: str,
                metrics: tuple[str, str], baselines: dict[str, float] | None = None,
                batch_losses: list[list[float]] | None = None) -> None:
    """Save ``model``'s ``state_dict`` for this epoch and plot ``history`` so far, with each of
    ``baselines`` (a label -> a value of the first metric) as a dotted horizontal line, and
    ``batch_losses`` (``BatchLosses.values``: per epoch, each minibatch's loss) as a thin line at
    fractional epochs on the loss panel (as ``exp(loss)`` on a perplexity panel)."""
    if not out_dir:
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / f"{name}_epoch{len(history)}.npz", model=model, epoch=len(history))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [row["epoch"] for row in history]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, metrics, strict=True):
        if metric in ("loss", "perplexity") and batch_losses:
            x = [number + (i + 1) / len(epoch) for number, epoch in enumerate(batch_losses)
                 for i in range(len(epoch))]
            y = [math.exp(v) if metric == "perplexity" else v for epoch in batch_losses for v in epoch]
            ax.plot(x, y, linewidth=0.8, alpha=0.5, color="grey", label=f"train {metric}, per batch")
            ax.set_yscale("log")  # the first batches' losses are far above the rest
        for key in history[0]:
            if key.endswith(metric):
                ax.plot(epochs, [row[key] for row in history], marker="o", label=key)
        if metric == metrics[0]:
            for k, (label, value) in enumerate((baselines or {}).items()):
                ax.axhline(value, color="black", linestyle=":", alpha=0.5 + 0.3 * k)
                ax.annotate(f"{label}: {value:.0f}", (1, value),
                            xycoords=("axes fraction", "data"), xytext=(-4, 2),
                            textcoords="offset points", ha="right", va="bottom", fontsize=8)
        title = {"lm": "language model", "resnet9": "ResNet9"}.get(name, name)
        ax.set(title=f"{title}: {metric}", xlabel="epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(out / f"{name}_curves.png", dpi=120)
    plt.close(figure)


# ---- command line ---------------------------------------------------------------------------


def fit_language_model(data_dir: str | Path | None = None, seq_model: str = "lstm",
                       epochs: int = 4, batch_size: int = 20, seq_len: int = 35,
                       embedding_size: int = 128, hidden_size: int = 128, lr: float = 0.003,
                       out_dir: str | Path | None = None, seed: int = 0, device=None,
                       progress: bool = True):
    """Train a ``LanguageModel`` with Adam on a corpus folder (default: the news sample in the
    repository's ``data/news``); return ``(model, corpus)``, the per-epoch history (train and
    valid perplexity) in ``model.history``. The curves (``lm_curves.png`` in ``out_dir``) draw
    the unigram and bigram baselines of ``ngram_perplexities`` on the same split."""
    from simple_ml import default_data_dir  # given in hw0's src/simple_ml.py
    corpus = ndl.data.Corpus(Path(data_dir) if data_dir else default_data_dir() / "news")
    ndl.manual_seed(seed)
    train = ndl.data.batchify(corpus.train, batch_size)
    valid = ndl.data.batchify(corpus.valid, batch_size)
    model = LanguageModel(embedding_size, len(corpus.dictionary), hidden_size, seq_model=seq_model,
                          seq_len=seq_len, device=device)
    baselines = ngram_perplexities(corpus.train, corpus.valid, len(corpus.dictionary))
    print(f"{seq_model} language model: vocabulary {len(corpus.dictionary)}, "
          f"{len(corpus.train)} training tokens, {sum(p.numpy().size for p in model.parameters())} "
          f"parameters; baselines on the valid split: "
          + ", ".join(f"{k} {v:.1f}" for k, v in baselines.items()), flush=True)
    train_ptb(model, train, seq_len, epochs, optimizer=ndl.optim.Adam, lr=lr, clip=1.0,
              device=device, valid=valid, out_dir=out_dir, progress=progress, baselines=baselines)
    return model, corpus


def train_language_model(*args, **kwargs) -> list[dict]:
    """``fit_language_model``'s per-epoch history (its arguments): train and valid perplexity
    and accuracy per epoch."""
    return fit_language_model(*args, **kwargs)[0].history


def show_samples(model: LanguageModel, corpus, prompt: str = "the company said",
                 max_new_tokens: int = 25, seed: int = 0) -> list[str]:
    """Print and return text the model generates after ``prompt`` (its words, or when one is not
    in the corpus's dictionary, the valid split's first three): greedy (``top_k=1``), then
    sampled (temperature 0.8, top-k 40, ``seed``), ``<eos>`` shown as `` / ``."""
    start = prompt.split()
    if not start or any(w not in corpus.dictionary.word2idx for w in start):
        start = [corpus.dictionary.idx2word[i] for i in corpus.valid[:3]]
    lines = []
    for how, options in (("greedy", dict(top_k=1)), ("sampled, T=0.8, top-k 40",
                                                      dict(temperature=0.8, top_k=40, seed=seed))):
        words = model.generate(start, max_new_tokens, dictionary=corpus.dictionary, **options)
        line = (" ".join(start) + " [" + " ".join(words) + "]").replace("<eos>", "/")
        lines.append(line)
        print(f"  {how}: {line}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    lm = sub.add_parser("lm", help="a language model on a PTB-style corpus folder")
    lm.add_argument("--seq-model", default="lstm", choices=("rnn", "lstm", "transformer"))
    lm.add_argument("--epochs", type=int, default=4)
    lm.add_argument("--data", type=Path, default=None, help="default: data/news (the sample)")
    lm.add_argument("--out", type=Path, default=Path("demo-output"))
    cifar = sub.add_parser("cifar10", help="ResNet9 on CIFAR-10 (needs `make data`)")
    cifar.add_argument("--epochs", type=int, default=1)
    cifar.add_argument("--data", type=Path, default=None,
                       help="default: data/cifar-10-batches-py")
    cifar.add_argument("--out", type=Path, default=Path("demo-output"))
    from apps.train_mnist import DEVICES, device_by_name  # given with hw1
    for command in (lm, cifar):
        command.add_argument("--device", choices=DEVICES, default="cpu",
                             help="needle's device for the model and the batches (default: cpu)")
    args = parser.parse_args(argv)
    try:
        device = device_by_name(args.device)
    except ValueError as error:
        parser.error(str(error))
    if args.task == "lm":
        model, corpus = fit_language_model(args.data, args.seq_model, args.epochs, out_dir=args.out,
                                           device=device)
        valid = model.history[-1]["valid perplexity"]
        print("generated text (the prompt, then [what the model wrote]):")
        show_samples(model, corpus)
        verdict = "ok" if valid < 250 else "NOT BELOW 250"
        print(f"{args.seq_model} language model: valid perplexity {valid:.1f} (bound 250; on the "
              f"news sample an add-one unigram model has 302, an interpolated bigram 139) "
              f"{verdict}; curves in {args.out}/lm_curves.png")
        return 0 if valid < 250 or args.data else 1
    from simple_ml import default_data_dir
    folder = args.data or default_data_dir() / "cifar-10-batches-py"
    train_loader = ndl.data.DataLoader(ndl.data.CIFAR10Dataset(folder, train=True), 128,
                                       shuffle=True, seed=0, device=device)
    test_loader = ndl.data.DataLoader(ndl.data.CIFAR10Dataset(folder, train=False), 128,
                                      device=device)
    ndl.manual_seed(0)
    train_cifar10(ResNet9(device=device), train_loader, args.epochs, test_loader=test_loader,
                  out_dir=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
