"""Hostile payloads run inside the sandbox the way the grader runs student code (issue 13).

Each test writes a small Python payload into a fresh workspace and runs it with
``sandbox.run`` (the same harness, namespaces, uid, cgroups and Landlock as a hidden test), then
checks that the attack failed and that a root-owned decoy file outside the workspace is
unchanged: mode, owner, extended attributes and times.
"""
import contextlib
import json
import os
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from grader import sandbox

ISOLATION = sandbox.detect()
needs_root_drop = pytest.mark.skipif(ISOLATION.sandbox_uid is None,
                                     reason="the grader is not root or cannot drop to an "
                                            "unprivileged uid here (see `python -m grader isolation`)")
needs_namespaces = pytest.mark.skipif(not ISOLATION.namespaces, reason="no namespaces")
needs_mounts = pytest.mark.skipif(not ISOLATION.private_mounts, reason="no mount namespace")
needs_landlock = pytest.mark.skipif(ISOLATION.landlock_abi < 1, reason="no Landlock")


def make_workspace(root: Path) -> Path:
    ws = root / "ws"
    for folder in (ws / "out", ws / "tmp"):
        folder.mkdir(parents=True)
    return ws


DEFAULT_LIMITS = sandbox.Limits()


def run_payload(ws: Path, code: str, limits=DEFAULT_LIMITS, timeout=60.0) -> dict:
    """Run ``code`` in the sandbox on ``ws``; it reports through ``report(dict)``."""
    prelude = ("import json, os\n"
               "def report(value):\n"
               "    open('out/report.json', 'w').write(json.dumps(value))\n")
    (ws / "payload.py").write_text(prelude + textwrap.dedent(code))
    status = sandbox.run(ws, [sys.executable, "-I", "payload.py"], ws / "payload.log", limits,
                         timeout)
    log = (ws / "payload.log").read_text(errors="replace")
    assert status == 0, f"status {status}: {log[-2000:]}"
    return json.loads((ws / "out" / "report.json").read_text())


def snapshot(path: Path) -> tuple:
    info = os.lstat(path)
    xattrs = {name: os.getxattr(path, name, follow_symlinks=False)
              for name in os.listxattr(path, follow_symlinks=False)}
    return (info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns, info.st_ctime_ns, xattrs,
            path.read_bytes() if stat.S_ISREG(info.st_mode) else None)


@pytest.fixture
def decoy(tmp_path_factory):
    """A root-owned file in a world-readable folder outside any workspace: only missing
    privilege may keep a sandbox from changing it."""
    folder = tmp_path_factory.mktemp("decoy")
    os.chmod(folder, 0o755)
    path = folder / "tool"
    path.write_text("#!/bin/sh\necho decoy\n")
    os.chmod(path, 0o755)
    for parent in [folder, *folder.parents]:
        if parent != Path("/") and os.stat(parent).st_mode & 0o005 != 0o005:
            os.chmod(parent, os.stat(parent).st_mode | 0o005)  # pytest's basetemp is 0700
    yield path
    shutil.rmtree(folder, ignore_errors=True)


ATTACKS = """
import os
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "done"
    except OSError as error:
        results[name] = type(error).__name__
for target in TARGETS:
    attempt(f"setuid {target}", lambda: os.chmod(target, 0o4755))
    attempt(f"chmod {target}", lambda: os.chmod(target, 0o644))
    attempt(f"chown {target}", lambda: os.chown(target, os.getuid(), os.getgid()))
    attempt(f"setxattr {target}", lambda: os.setxattr(target, "user.pwned", b"1"))
    attempt(f"setcap {target}", lambda: os.setxattr(target, "security.capability",
            b"\\x01\\x00\\x00\\x02" + b"\\xff" * 4 + b"\\x00" * 12))
    attempt(f"utime {target}", lambda: os.utime(target, (0, 0)))
results["uid"] = [os.getuid(), os.geteuid(), os.getgid()]
report(results)
"""


@needs_root_drop
def test_host_files_cannot_be_chmodded_chowned_xattred_or_touched(decoy, tmp_path):
    interpreter = Path(os.path.realpath(sys.executable))
    targets = [decoy, interpreter]
    before = {t: snapshot(t) for t in targets}
    ws = make_workspace(tmp_path)
    results = run_payload(ws, f"TARGETS = {[str(t) for t in targets]!r}\n" + ATTACKS)
    assert results.pop("uid") == [ISOLATION.sandbox_uid, ISOLATION.sandbox_uid,
                                  ISOLATION.sandbox_gid]
    assert results and all(outcome != "done" for outcome in results.values()), results
    assert {t: snapshot(t) for t in targets} == before
    # what the sandbox wrote is the trusted side's to read and remove
    assert json.loads((ws / "out" / "report.json").read_text())
    shutil.rmtree(ws)


@needs_root_drop
def test_the_sandbox_has_no_capabilities_and_cannot_regain_root(tmp_path):
    results = run_payload(make_workspace(tmp_path), """
        import subprocess
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        caps = {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
        try:
            os.setuid(0)
            became = True
        except OSError:
            became = False
        report({"caps": caps, "no_new_privs": status["NoNewPrivs"].strip(), "setuid": became,
                "groups": os.getgroups()})
        """)
    assert set(results["caps"].values()) == {"0000000000000000"}, results
    assert results["no_new_privs"] == "1" and not results["setuid"] and results["groups"] == []


IPC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY, IPC_CREAT = 0x46544852, 0o1000
"""


@needs_namespaces
def test_sysv_shared_memory_does_not_reach_another_sandbox(tmp_path):
    writer = run_payload(make_workspace(tmp_path / "a"), IPC + textwrap.dedent("""
        shm = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
        address = libc.shmat(shm, None, 0)
        ctypes.memmove(address, b"answers", 7)
        report({"shm": shm})
        """))
    assert writer["shm"] >= 0  # the segment was made (and outlives its creator in its namespace)
    reader = run_payload(make_workspace(tmp_path / "b"), IPC + textwrap.dedent("""
        shm = libc.shmget(KEY, 0, 0)
        report({"shm": shm, "errno": ctypes.get_errno(), "hostname": os.uname().nodename,
                "ipcs": open("/proc/sysvipc/shm").read().splitlines()[1:]})
        """))
    assert reader["shm"] == -1 and reader["ipcs"] == [], reader
    assert reader["hostname"] == os.uname().nodename  # its own UTS namespace, a copy of ours


KEYRING = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
KEYCTL_SEARCH, KEYCTL_READ, USER_KEYRING = 10, 11, -4
"""


@needs_root_drop
@pytest.mark.skipif(not sandbox.SECCOMP, reason="no seccomp filter for this machine")
def test_the_kernel_keyring_does_not_reach_another_sandbox(tmp_path):
    """Both sandboxes run as one uid, whose user keyring no namespace separates: seccomp must."""
    writer = run_payload(make_workspace(tmp_path / "a"), KEYRING + textwrap.dedent("""
        data = b"answers"
        key = libc.syscall(ADD_KEY, b"user", b"leak", data, len(data), ctypes.c_int(USER_KEYRING))
        report({"key": key, "errno": ctypes.get_errno()})
        """))
    reader = run_payload(make_workspace(tmp_path / "b"), KEYRING + textwrap.dedent("""
        key = libc.syscall(KEYCTL, KEYCTL_SEARCH, ctypes.c_int(USER_KEYRING), b"user", b"leak", 0)
        buffer = ctypes.create_string_buffer(64)
        size = libc.syscall(KEYCTL, KEYCTL_READ, key, buffer, 64) if key > 0 else -1
        report({"key": key, "errno": ctypes.get_errno(), "data": buffer.raw[:max(size, 0)].hex()})
        """))
    assert writer == {"key": -1, "errno": 1}, writer  # EPERM
    assert reader["key"] == -1 and reader["errno"] == 1 and reader["data"] == "", reader


@pytest.mark.skipif("memory" not in dict(ISOLATION.cgroups), reason="no memory cgroup")
def test_memory_is_limited_for_all_the_sandboxs_processes_together(tmp_path):
    limits = sandbox.Limits(total_memory_bytes=256 << 20)
    results = run_payload(make_workspace(tmp_path), """
        import signal, time
        children = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                hoard = bytearray(200 << 20)  # zero-filled: every page touched
                hoard[::4096] = b"x" * len(hoard[::4096])
                time.sleep(3)
                os._exit(0)
            children.append(pid)
        statuses = [os.waitpid(pid, 0)[1] for pid in children]
        report({"killed": [os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL
                           for s in statuses]})
        """, limits=limits)
    assert any(results["killed"]), results


@needs_mounts
@needs_landlock
def test_the_sandbox_cannot_read_shadow_or_see_host_processes(tmp_path):
    ws = make_workspace(tmp_path)
    results = run_payload(ws, """
        found = {}
        for path in ("/etc/shadow", "/etc/ssh", "/root", "/tmp"):
            try:
                if os.path.isdir(path):
                    found[path] = sorted(os.listdir(path))
                else:
                    found[path] = len(open(path, "rb").read())
            except OSError as error:
                found[path] = type(error).__name__
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        cmdlines = []
        for pid in pids:
            try:
                cmdlines.append(open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"))
            except OSError:
                pass
        report({"found": found, "pids": pids, "cmdlines": cmdlines})
        """)
    found = results["found"]
    assert found["/etc/shadow"] == "PermissionError", found
    assert not isinstance(found["/etc/ssh"], list), found
    assert found["/tmp"] in ([], "PermissionError"), found  # a private /tmp: nothing of the host's
    assert not isinstance(found["/root"], list) or set(found["/root"]) <= {".pyenv"}, found
    assert os.getpid() not in results["pids"] or max(results["pids"]) < 10
    assert len(results["pids"]) <= 4, results  # the PID namespace's init, the payload
    assert not any("pytest" in c for c in results["cmdlines"]), results["cmdlines"]


def test_isolation_names_what_a_bare_machine_lacks():
    bare = sandbox.Isolation(landlock_abi=0, namespaces=False, cgroups=(), root=False)
    notes = "\n".join(bare.notes)
    for missing in ("no Landlock", "namespaces", "SysV IPC", "not root", "no cgroups",
                    "no disk quota"):
        assert missing in notes, notes
    assert [line for line in bare.protections if not line.startswith("seccomp")] == []
    root = sandbox.Isolation(landlock_abi=3, namespaces=True, cgroups=(), root=True,
                             problems=("could not run the sandbox as uid 65534 (x)",))
    notes = "\n".join(root.notes)
    for missing in ("mapped to host root", "pids cgroup", "memory cgroup", "cpu cgroup",
                    "no mount namespace", "uid 65534", "no disk quota"):
        assert missing in notes, notes
    assert any("user" in line for line in root.protections)


@pytest.mark.skipif(not (ISOLATION.root and ISOLATION.hidden),
                    reason="needs a root grader whose interpreter the sandbox uid cannot reach")
def test_an_unreachable_interpreter_without_mounts_falls_back_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "_MOUNT", ["--mount", "--no-such-option"])  # mounts fail
    isolation = sandbox.detect.__wrapped__()
    assert isolation.sandbox_uid is None and not isolation.private_mounts
    assert any("could not run the sandbox as uid" in note for note in isolation.notes)
    assert any("mapped to host root" in note for note in isolation.notes)
    assert any("no mount namespace" in note for note in isolation.notes)
    # grading still works, as before
    ws = make_workspace(tmp_path)
    (ws / "payload.py").write_text("open('out/ok', 'w').write('1')\n")
    child = sandbox._start(isolation, ws, {"out": str(ws / "out")}, ws / "log", sandbox.Limits(),
                           [sys.executable, "-I", "payload.py"])
    assert child.process.wait(timeout=60) == 0, (ws / "log").read_text()
    child.kill()
    assert (ws / "out" / "ok").read_text() == "1"


@needs_landlock
@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")
def test_a_cpp_include_cannot_read_host_files_outside_the_read_set(tmp_path):
    """World-readable files outside the read set stay unreadable: Landlock, not permissions."""
    ws = make_workspace(tmp_path)
    (ws / "leak.cpp").write_text('#include "/etc/hostname"\n#include "/etc/shadow"\n')
    status = sandbox.run(ws, ["c++", "-E", "leak.cpp"], ws / "build.log", sandbox.Limits(), 60)
    log = (ws / "build.log").read_text(errors="replace")
    assert status != 0 and Path("/etc/hostname").read_text().strip() not in log, log
    results = run_payload(ws, """
        found = {}
        for path in ("/etc/hostname", "/etc/hosts", "/etc/machine-id"):
            try:
                found[path] = open(path).read()
            except OSError as error:
                found[path] = type(error).__name__
        report(found)
        """)
    assert set(results.values()) <= {"PermissionError", "FileNotFoundError"}, results


# ---- finding 7 (disk): the whole scratch folder is bounded, not just each file -----------------

needs_disk_quota = pytest.mark.skipif(not ISOLATION.disk_quota,
                                      reason="no disk quota here (the grader is not root)")
FILL_DISK = """
    import errno
    written, files, error = 0, 0, None
    try:
        while written < 256 << 20:  # far past the quota; every file under RLIMIT_FSIZE
            with open(f"tmp/fill{files}", "wb") as f:
                files += 1
                for _ in range(4):
                    f.write(b"x" * (1 << 20))
                    written += 1 << 20
    except OSError as e:
        error = errno.errorcode[e.errno]
    inodes, inode_error = 0, None
    try:
        while inodes < 100_000:
            open(f"tmp/empty{inodes}", "w").close()
            inodes += 1
    except OSError as e:
        inode_error = errno.errorcode[e.errno]
    for name in os.listdir("tmp"):
        os.remove(os.path.join("tmp", name))
    report({"written": written, "error": error, "inodes": inodes, "inode_error": inode_error})
    """


@needs_disk_quota
def test_what_a_sandbox_writes_in_all_stops_at_the_disk_quota(tmp_path):
    limits = sandbox.Limits(disk_bytes=24 << 20, disk_files=300)
    with sandbox.disk_limited(tmp_path / "area", limits) as area:
        assert (tmp_path / "area") in [Path(line.split()[4]) for line in
                                       Path("/proc/self/mountinfo").read_text().splitlines()]
        results = run_payload(make_workspace(area), FILL_DISK, limits)
    assert results["error"] == "ENOSPC" and results["written"] <= 24 << 20, results
    assert results["inode_error"] == "ENOSPC" and results["inodes"] < 300, results
    # the tmpfs is gone with the block, and what was written with it
    assert not any(str(tmp_path / "area") in line
                   for line in Path("/proc/self/mountinfo").read_text().splitlines())
    assert not (tmp_path / "area").exists()


# ---- nothing outlives its grader -----------------------------------------------------------------

# A grader that starts a sandbox (sleeping forever) in a disk-limited folder, then waits to be
# killed: it never runs Child.kill or leaves the ``with`` block.
KILLED_GRADER = """
import sys, time
from pathlib import Path
from grader import sandbox
area_cm = sandbox.disk_limited(Path(sys.argv[1]) / "area")
area = area_cm.__enter__()
ws = area / "ws"
(ws / "out").mkdir(parents=True); (ws / "tmp").mkdir()
(ws / "sleeper.py").write_text("import time\\nopen('out/started', 'w').close()\\ntime.sleep(600)\\n")
child = sandbox.start(ws, {"out": str(ws / "out")}, ws / "log", sandbox.Limits(),
                      exec_command=[sys.executable, "-I", str(ws / "sleeper.py")])
print(child.cgroup, flush=True)
time.sleep(600)
"""


def _processes_running(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@needs_namespaces
def test_a_killed_grader_leaves_no_sandbox_running_and_the_next_one_sweeps_up(tmp_path):
    import signal
    import subprocess
    import time
    grader = subprocess.Popen([sys.executable, "-c", KILLED_GRADER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, cwd=Path(sandbox.__file__).parents[1])
    try:
        cgroup = grader.stdout.readline().strip()
        marker = str(tmp_path / "area" / "ws" / "sleeper.py")
        deadline = time.monotonic() + 30
        while not (tmp_path / "area" / "ws" / "out" / "started").exists():
            assert time.monotonic() < deadline and grader.poll() is None, "the sandbox never started"
            time.sleep(0.05)
        assert _processes_running(marker)
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    deadline = time.monotonic() + 10
    while _processes_running(marker):  # the parent-death signal reaches the whole sandbox
        assert time.monotonic() < deadline, f"sandbox still running: {_processes_running(marker)}"
        time.sleep(0.05)
    if ISOLATION.root:  # its cgroups and tmpfs stayed behind; the next grader removes them
        removed = sandbox.sweep_orphans()
        if cgroup != "None":
            assert cgroup in removed and not Path(cgroup).exists(), removed
        if ISOLATION.disk_quota:
            assert str(tmp_path / "area") in removed, removed
            assert str(tmp_path / "area") not in Path("/proc/self/mountinfo").read_text()
        assert sandbox.sweep_orphans() == []  # and nothing of a live grader's is touched


@needs_disk_quota
@needs_namespaces
def test_a_submission_filling_the_disk_is_stopped_at_the_quota_and_graded(monkeypatch, tmp_path):
    from grader import answers, grade
    from grader.tests.test_grader import HW1, attacked_submission, solution_submission
    key = answers.load(HW1)
    monkeypatch.setattr(grade, "LIMITS", sandbox.Limits(disk_bytes=64 << 20, disk_files=4000))
    attack = """
        import os
        n = len(os.listdir("tmp"))
        while True:  # 1 MiB files until the disk is full: OSError ENOSPC ends it
            with open(f"tmp/fill{n}", "wb") as f:
                f.write(b"x" * (1 << 20))
            n += 1"""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = grade.grade(HW1, attacked_submission(tmp_path / "sub", attack), key, scratch=scratch)
    # the first test that adds fails with ENOSPC; after that the full disk leaves no room for any
    # test's result, and each is a crash that says so: the submission hurt only itself
    full = [r for r in result.results if "No space left on device" in r.message
            or "disk quota is full" in r.message]
    assert full and all(r.score == 0 for r in full), result.results
    assert any("disk quota is full" in r.message for r in full), result.results
    assert str(scratch) not in Path("/proc/self/mountinfo").read_text()
    assert not (scratch / "area").exists()  # the filled tmpfs is gone
    # the next submission graded in the same place starts with an empty quota
    again = grade.grade(HW1, solution_submission(tmp_path / "good"), key, scratch=scratch)
    assert again.score == again.max_score, again.results


@needs_namespaces
@pytest.mark.skipif(not ISOLATION.cgroups, reason="no cgroups to see the sandboxes by")
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_stopping_a_batch_leaves_no_worker_sandbox_mount_or_cgroup(stop, tmp_path):
    """`python -m grader grade` stopped mid-batch: its workers and their sandboxes end at once.
    SIGTERM: it removes their cgroups and tmpfs folders before it exits (status 130). SIGKILL:
    the workers die with it (a parent-death signal), and the next grader sweeps what is left."""
    import signal
    import subprocess
    import time

    from grader.tests.test_grader import attacked_submission
    subs = tmp_path / "subs"
    for student in ("ann", "ben"):  # each sleeps in its first test: both workers busy
        attacked_submission(subs / student, "import time; time.sleep(600)")
    grader = subprocess.Popen([sys.executable, "-m", "grader", "grade", "hw1", "--dir", str(subs),
                               "--jobs", "2", "--out", str(tmp_path / "grades"),
                               "--gradebook", str(tmp_path / "gradebook.sqlite")],
                              cwd=Path(sandbox.__file__).parents[1], stderr=subprocess.PIPE,
                              text=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(_held_by(workers)[0]) < 2 and grader.poll() is None:
            assert time.monotonic() < deadline, "the batch never started two sandboxes"
            workers |= _children(grader.pid)
            time.sleep(0.1)
        time.sleep(1)
        grader.send_signal(getattr(signal, stop))
        stderr = grader.communicate(timeout=60)[1]
    finally:
        if grader.poll() is None:
            grader.kill()
    deadline = time.monotonic() + 10
    while any(sandbox._alive(pid) for pid in workers) or _processes_running("time.sleep(600)"):
        assert time.monotonic() < deadline, "a worker or a sandbox outlived the grader"
        time.sleep(0.1)
    if stop == "SIGTERM":
        assert grader.returncode == 130, stderr
        assert "stopped (SIGTERM)" in stderr
    else:  # nobody was left to clean up until the next grader starts (any grader sweeps)
        sandbox.sweep_orphans()
    assert _held_by(workers) == ([], []), _held_by(workers)


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _held_by(pids: set[int]) -> tuple[list[str], list[str]]:
    """The sandbox cgroups and tmpfs mounts named after one of ``pids`` (``ORPHAN_NAME``)."""
    def owner(name: str) -> int | None:
        match = sandbox.ORPHAN_NAME.fullmatch(name)
        return int(match[1]) if match else None
    cgroups = [str(p) for base in {sandbox._CGROUP_V2} | set(sandbox._CGROUP_V1.values())
               if base.is_dir() for p in base.glob("flamethrower-*") if owner(p.name) in pids]
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if " - tmpfs " in line and owner(line.split(" - ")[1].split()[1]) in pids]
    return cgroups, mounts
