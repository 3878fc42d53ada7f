"""The parent side of the process boundary: limits, isolation, and starting a sandboxed child.

Every child is a fresh interpreter (``subprocess``: fork+exec, never a forked copy of the
grader) in its own session, so the whole group can be killed, with:

- rlimits: CPU seconds, address space, open-file size (caps output floods), no core files,
  and, for a non-root grader, a process count;
- namespaces where ``unshare`` allows them (user, network, PID): no network at all, a process
  tree that dies with its root, and no privilege over the real system even when the grader
  runs as root;
- a ``pids`` cgroup when the grader runs as root (whom RLIMIT_NPROC does not bind): the
  fork-bomb limit;
- Landlock, applied by the harness itself: the workspace read-write, the Python installation
  and system libraries read-only, nothing else (not the repository, the hidden tests, the
  answer key, or other students' workspaces).

``detect()`` says which of these this machine provides; ``Isolation.notes`` names what is
missing, and the grader reports those notes with every result.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HARNESS = Path(__file__).with_name("harness.py")
_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
# The signals that stop a grader or ``check-hwN`` run; held back while a child is being started
# or killed, so that no child starts unrecorded or is left half-killed.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True)
class Limits:
    """Resource limits for one child process (and its descendants).

    Attributes:
        cpu_seconds: CPU time of each process (RLIMIT_CPU), seconds.
        memory_bytes: address space of each process (RLIMIT_AS), bytes.
        processes: processes and threads alive at once in the sandbox.
        file_bytes: the largest file a process may write (RLIMIT_FSIZE), bytes; its own
            stdout and stderr go to a file, so this also stops an output flood.
        output_bytes: how much of the output's end the grader keeps, bytes.
    """

    cpu_seconds: int = 300
    memory_bytes: int = 4 << 30
    processes: int = 64
    file_bytes: int = 64 << 20
    output_bytes: int = 16 << 10


@dataclass(frozen=True)
class Isolation:
    """What this machine lets the grader use (see ``detect``)."""

    landlock_abi: int
    namespaces: bool
    pids_cgroup: Path | None
    root: bool

    @property
    def notes(self) -> list[str]:
        """One line per protection this machine lacks, for instructors and reports."""
        notes = []
        if self.landlock_abi < 1:
            notes.append("no Landlock in this kernel: student code can read files outside its "
                         "workspace (needs Linux >= 5.13 with Landlock enabled)")
        elif self.landlock_abi < 6:
            notes.append(f"Landlock ABI {self.landlock_abi}: signals to the grader are blocked "
                         "only by the PID namespace (ABI >= 6 blocks them itself)")
        if not self.namespaces:
            notes.append("no user/network/PID namespaces (unshare failed): the network is not "
                         "cut, and a child that leaves its process group can outlive its run")
        if self.root and self.pids_cgroup is None:
            notes.append("running as root without a writable pids cgroup: no fork-bomb limit")
        return notes


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """Probe this machine once for Landlock, namespaces and a pids cgroup."""
    namespace = shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "true"],
        capture_output=True).returncode == 0
    abi = _landlock_abi()
    root = os.geteuid() == 0
    cgroup = None
    if root:
        for base in _CGROUP_ROOTS:
            probe = base / f"flamethrower-probe-{uuid.uuid4().hex[:8]}"
            try:
                probe.mkdir()
                ok = (probe / "pids.max").exists() and (probe / "cgroup.procs").exists()
                probe.rmdir()
            except OSError:
                continue
            if ok:
                cgroup = base
                break
    return Isolation(abi, namespace, cgroup, root)


def _landlock_abi() -> int:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return max(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)), 0)


def read_only_paths() -> list[str]:
    """What a sandboxed child may read (and execute) besides its workspace."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix,
                str(Path(os.path.realpath(sys.executable)).parent.parent)}
    system = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys",
              "/dev/urandom", "/dev/random", "/dev/zero"]
    return sorted(prefixes) + system


def child_env(workspace: Path) -> dict[str, str]:
    """A clean environment: nothing of the grader's, one BLAS thread, temp files in the workspace."""
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(workspace),
            "TMPDIR": str(workspace / "tmp"), "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Child:
    """A running sandboxed child; ``kill()`` ends it and everything it started."""

    process: subprocess.Popen
    cgroup: Path | None
    killed: bool = False

    def kill(self) -> None:
        """SIGKILL the child's process group (under namespaces: ``unshare`` and the PID
        namespace's init, whose death ends every process in it), wait for it, and empty and
        remove its cgroup. Only the first call acts: the group's id may be reused after that."""
        with stop_signals_held():
            if self.killed:
                return
            self.killed = True
            try:
                os.killpg(self.process.pid, 9)
            except ProcessLookupError:
                pass
            self.process.wait()
            if self.cgroup is not None:
                _remove_cgroup(self.cgroup)


@contextlib.contextmanager
def stop_signals_held():
    """Hold back SIGTERM, SIGINT and SIGHUP in this thread for the ``with`` block; one that
    arrives meanwhile is delivered (its handler runs) when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(workspace: Path, payload: dict, log: Path, limits: Limits,
          exec_command: list[str] | None = None) -> Child:
    """Start the harness in ``workspace`` on ``payload``, its output going to ``log``.

    With ``exec_command``, the harness locks itself in and then runs that command instead of
    tests (the sandboxed build).
    """
    isolation = detect()
    payload = {**payload, "workspace": str(workspace), "landlock": isolation.landlock_abi > 0,
               "read": read_only_paths(), "write": [str(workspace), "/dev/null"]}
    command = [sys.executable, "-I", "-c", HARNESS.read_text()]
    if exec_command:
        command += ["--exec", *exec_command]
    if isolation.namespaces:
        command = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork",
                   "--kill-child", "--", *command]
    cgroup = None
    processes = None if isolation.root else _process_count() + limits.processes

    def limit_child() -> None:  # runs in the child between fork and exec
        for number in STOP_SIGNALS:  # not the parent's handlers (check-hwN's raise)
            signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # held in the parent (below)
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))

    # Held from the cgroup's creation until the Child that owns it exists: a signal handler
    # that raises (as check-hwN's does) cannot leave a child that nobody kills.
    child = None
    try:
        with stop_signals_held():
            if isolation.pids_cgroup is not None:
                cgroup = isolation.pids_cgroup / f"flamethrower-{uuid.uuid4().hex}"
                cgroup.mkdir()
                (cgroup / "pids.max").write_text(str(limits.processes))
            with open(log, "wb") as output:
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=output,
                                           stderr=subprocess.STDOUT, cwd=workspace,
                                           env=child_env(workspace), start_new_session=True,
                                           preexec_fn=limit_child, close_fds=True)
            child = Child(process, cgroup)
        try:
            process.stdin.write(json.dumps(payload).encode())
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child is already gone; its missing results say so
    except BaseException:
        if child is not None:
            child.kill()
        elif cgroup is not None and cgroup.exists():
            _remove_cgroup(cgroup)  # Popen failed: no child owns the cgroup
        raise
    return child


def run(workspace: Path, command: list[str], log: Path, limits: Limits, timeout: float) -> int | None:
    """Run ``command`` in ``workspace``, locked in as the harness is, its output going to ``log``.

    Returns:
        Its exit status, or None if it was still running after ``timeout`` seconds (it and
        everything it started are then killed).
    """
    child = start(workspace, {"out": str(workspace / "out")}, log, limits, exec_command=command)
    try:
        deadline = time.monotonic() + timeout
        while child.process.poll() is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return child.process.returncode
    finally:
        child.kill()


def _process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _remove_cgroup(cgroup: Path) -> None:
    procs = cgroup / "cgroup.procs"
    for _ in range(100):
        try:
            for pid in procs.read_text().split():
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            cgroup.rmdir()
            return
        except OSError:
            time.sleep(0.05)


def read_regular(path: Path, limit: int, *, tail: bool = False) -> bytes | None:
    """Up to ``limit`` bytes of a regular file the sandbox wrote (its end with ``tail``), or None.

    Refuses symlinks, hard-linked files and anything but a regular file, so a child cannot make
    the grader read outside the workspace.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return None
        if tail and info.st_size > limit:
            f.seek(info.st_size - limit)
        elif info.st_size > limit:
            return None
        return f.read(limit)


def read_appended(path: Path, offset: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``offset`` on of a regular file the sandbox is appending to.

    For following a file as it grows; refuses what ``read_regular`` refuses, returning b"".
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return b""
        f.seek(offset)
        return f.read(limit)


def printable(text: str, limit: int, *, newlines: bool = False) -> str:
    """``text`` from the sandbox made safe to print: at most ``limit`` characters (then "..."),
    every control or invisible character (ANSI escapes, carriage returns, bidirectional
    overrides) written as its Python escape, so it can neither drive the terminal nor forge
    lines; with ``newlines``, line breaks are kept.

    >>> printable("ok\\x1b[2J\\rFAKE PASS", 40)
    'ok\\\\x1b[2J\\\\rFAKE PASS'
    >>> printable("x" * 10, 4)
    'xxxx...'
    """
    safe = "".join(c if c.isprintable() or (newlines and c == "\n")
                   else c.encode("unicode_escape").decode("ascii") for c in text[:limit + 1])
    return safe if len(safe) <= limit else safe[:limit] + "..."
