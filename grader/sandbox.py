"""The parent side of the process boundary: limits, isolation, and starting a sandboxed child.

Every child is a fresh interpreter (``subprocess``: fork+exec, never a forked copy of the
grader) in its own session, so the whole group can be killed, with:

- rlimits: CPU seconds, address space, open-file size (caps output floods), no core files,
  and, for a non-root grader, a process count;
- namespaces where ``unshare`` allows them (network, PID, IPC, UTS, mount; a user namespace
  when the grader is not root): no network, no SysV IPC or hostname shared with anyone, a
  process tree that dies with its root, a fresh ``/proc`` showing only the sandbox's processes
  and a private ``/tmp``;
- when the grader runs as root, an unprivileged uid/gid (``FLAMETHROWER_SANDBOX_UID``/``_GID``,
  default 65534 nobody/nogroup): the harness drops to it (no groups, every capability gone,
  bounding set emptied, no_new_privs) before any student code runs, so nothing in the sandbox
  is host root; an interpreter under a folder that uid cannot enter (``/root``, mode 700) is
  shown to it through a private mount that hides the rest of that folder;
- cgroups when the grader runs as root: ``pids`` (the fork-bomb limit), ``memory`` (all the
  sandbox's processes together) and ``cpu`` (a CPU quota), v2 or v1, whichever exist;
- a disk quota when the grader runs as root: each submission's scratch folder is a tmpfs of
  ``Limits.disk_bytes`` and ``Limits.disk_files`` (``disk_limited``), so what the build and the
  tests write together is bounded, not just each file (RLIMIT_FSIZE);
- nothing outlives its grader: every child gets SIGKILL when the grader dies (a parent-death
  signal, re-armed by the harness after it drops root), and the cgroups and tmpfs mounts of a
  grader that was killed carry its pid in their names, so the next grader removes them
  (``sweep_orphans``, run once per process by ``detect``);
- seccomp, applied by the harness: no kernel keyring (not namespaced: a channel between
  students running as one uid), bpf, perf_event_open or userfaultfd;
- Landlock, applied by the harness itself: the workspace read-write; the Python installation,
  the compiler and system libraries read-only (``read_only_paths``), nothing else (not the
  repository, the hidden tests, the answer key, ``/etc/shadow`` or other students' workspaces).

``detect()`` says which of these this machine provides; ``Isolation.notes`` names what is
missing, and the grader reports those notes with every result.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import json
import os
import platform
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .files import remove_tree
from .protocol import CONFINEMENT, Confinement

HARNESS = Path(__file__).with_name("harness.py")
PROTOCOL = Path(__file__).with_name("protocol.py")
# The harness's ``python -I -c`` program (``harness_program``): ``grader.protocol`` made a module
# from its text, then the harness run as ``__main__`` from its own.
_HARNESS_PROGRAM = """\
import sys, types
grader = sys.modules["grader"] = types.ModuleType("grader")
grader.__path__ = []
grader.protocol = sys.modules["grader.protocol"] = types.ModuleType("grader.protocol")
exec(compile({protocol!r}, "<grader.protocol>", "exec"), grader.protocol.__dict__)
exec(compile({harness!r}, "<grader.harness>", "exec"), {{"__name__": "__main__"}})
"""
# The signals that stop a grader or ``check-hwN`` run; held back while a child is being started
# or killed, so that no child starts unrecorded or is left half-killed.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Where a sandbox run by a root grader runs as (nobody/nogroup unless configured).
SANDBOX_UID = int(os.environ.get("FLAMETHROWER_SANDBOX_UID", "65534"))
SANDBOX_GID = int(os.environ.get("FLAMETHROWER_SANDBOX_GID", "65534"))
_CGROUP_V2 = Path("/sys/fs/cgroup")
_CGROUP_V1 = {"pids": Path("/sys/fs/cgroup/pids"), "memory": Path("/sys/fs/cgroup/memory"),
              "cpu": Path("/sys/fs/cgroup/cpu")}
_CGROUP_FILES = {"pids": ("pids.max", "pids.max"), "memory": ("memory.max", "memory.limit_in_bytes"),
                 "cpu": ("cpu.max", "cpu.cfs_quota_us")}  # (v2, v1)
_NAMESPACES = ["--net", "--pid", "--fork", "--kill-child", "--ipc", "--uts"]
_MOUNT = ["--mount", "--mount-proc"]
PRIVATE_TMP_OPTIONS = "size=64m,nr_inodes=16384,mode=1777"
# What this grader's cgroups and tmpfs mounts are named (``flamethrower-<pid>-...``; the mount's
# source is ``flamethrower-<pid>``): ``sweep_orphans`` removes those of pids no longer alive.
ORPHAN_NAME = re.compile(r"flamethrower-(\d{1,9})(?:-[0-9a-f]+)?")
_PR_SET_PDEATHSIG = 1
# Machines whose system-call numbers the harness knows (``harness.refuse_syscalls``).
SECCOMP = platform.machine() in ("x86_64", "aarch64")
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2


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
        total_memory_bytes: memory of all the sandbox's processes together (a memory cgroup,
            where there is one), bytes.
        cpus: CPUs' worth of time the sandbox gets at once (a cpu cgroup's quota; the
            handouts build with `make -j 2`).
        disk_bytes: what a submission's scratch folder may hold in all (the submission, its
            workspace, the build and everything the tests write), bytes; a tmpfs's size where
            the grader is root (``disk_limited``).
        disk_files: files and folders that scratch folder may hold (the tmpfs's inodes).
    """

    cpu_seconds: int = 300
    memory_bytes: int = 4 << 30
    processes: int = 64
    file_bytes: int = 64 << 20
    output_bytes: int = 16 << 10
    total_memory_bytes: int = 4 << 30
    cpus: float = 2.0
    disk_bytes: int = 512 << 20
    disk_files: int = 20_000


DEFAULT_LIMITS = Limits()  # what a run gets unless its caller says otherwise


@dataclass(frozen=True)
class Isolation:
    """What this machine lets the grader use (see ``detect``).

    Attributes:
        landlock_abi: Landlock's ABI version (0: none).
        namespaces: whether the sandbox gets its own network, PID, IPC and UTS namespaces.
        private_mounts: whether it gets a mount namespace with a fresh ``/proc`` and a private
            ``/tmp``.
        cgroups: the cgroup controllers in force (``pids``, ``memory``, ``cpu``), each with the
            folder the sandbox's cgroup is made in.
        root: whether the grader runs as root.
        sandbox_uid: the uid student code runs as when the grader is root (None: it is not
            root, or it could not drop to an unprivileged uid and student code runs as uid 0 of
            a user namespace mapped to host root; ``problems`` says why).
        hidden: folders the sandbox uid cannot enter that hold the interpreter; shown to it
            through private mounts.
        disk_quota: whether each submission's scratch folder is a size- and inode-limited
            tmpfs (``disk_limited``; root only).
        problems: why a protection that should be in force is not.
    """

    landlock_abi: int
    namespaces: bool
    cgroups: tuple[tuple[str, Path], ...]
    root: bool
    private_mounts: bool = False
    sandbox_uid: int | None = None
    sandbox_gid: int | None = None
    hidden: tuple[str, ...] = ()
    disk_quota: bool = False
    problems: tuple[str, ...] = ()

    @property
    def pids_cgroup(self) -> Path | None:
        """The folder the sandbox's pids cgroup is made in, or None."""
        return dict(self.cgroups).get("pids")

    @property
    def protections(self) -> list[str]:
        """One line per protection in force, for ``python -m grader isolation``."""
        lines = []
        if self.landlock_abi >= 1:
            lines.append(f"Landlock ABI {self.landlock_abi}: reads limited to the workspace and "
                         f"{', '.join(read_only_paths(private_proc=self.private_mounts))}; writes to "
                         "the workspace only")
        if self.sandbox_uid is not None:
            lines.append(f"unprivileged: student code runs as uid {self.sandbox_uid} gid "
                         f"{self.sandbox_gid}, no groups, no capabilities, no_new_privs")
        if self.hidden:
            lines.append(f"the interpreter under {', '.join(self.hidden)} is shown to the sandbox "
                         "through a private mount; the rest of that folder is hidden")
        if self.namespaces:
            lines.append("namespaces: network (no network), PID, IPC (no SysV IPC shared), UTS"
                         + ("" if self.root and self.sandbox_uid is not None else ", user"))
        if self.private_mounts:
            lines.append("mount namespace: /proc shows only the sandbox's processes; private /tmp "
                         f"(tmpfs, {PRIVATE_TMP_OPTIONS})")
        for controller, base in self.cgroups:
            what = {"pids": "processes", "memory": "memory of all its processes together",
                    "cpu": "CPU quota"}[controller]
            lines.append(f"{controller} cgroup ({what}) under {base}")
        if SECCOMP:
            lines.append("seccomp: the kernel keyring (add_key, keyctl, request_key: not "
                         "namespaced, shared by every sandbox of one uid), bpf, perf_event_open "
                         "and userfaultfd refused")
        if self.disk_quota:
            limits = Limits()
            lines.append(f"disk: each submission's scratch folder is a tmpfs of "
                         f"{limits.disk_bytes >> 20} MiB and {limits.disk_files} files")
        if self.namespaces:
            lines.append("a sandbox dies with its grader (a parent-death signal to its PID "
                         "namespace's init)" + ("; a killed grader's cgroups and mounts are "
                                                "removed by the next one" if self.root else ""))
        return lines

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
            notes.append("no user/network/PID/IPC namespaces (unshare failed): the network is not "
                         "cut, SysV IPC is shared between students, and a child that leaves its "
                         "process group can outlive its run")
        elif not self.private_mounts:
            notes.append("no mount namespace: /proc shows every host process and /tmp is shared")
        if self.root and self.sandbox_uid is None:
            notes.append("student code runs as root of a user namespace mapped to host root: it "
                         "can chmod, chown, setxattr and touch host files that Landlock lets it "
                         "see (Landlock does not cover those)")
        if not self.root:
            notes.append("the grader is not root: student code runs as the grader's own uid (in a "
                         "user namespace) and could chmod or touch the grader's own files that "
                         "Landlock lets it see; no cgroups (memory and processes limited per "
                         "process by rlimits only); no disk quota (each file is limited by "
                         "RLIMIT_FSIZE, not their total)")
        else:
            if not self.disk_quota:
                notes.append("running as root but a tmpfs cannot be mounted: no disk quota (each "
                             "file is limited by RLIMIT_FSIZE, not their total)")
            for controller in ("pids", "memory", "cpu"):
                if controller not in dict(self.cgroups):
                    notes.append(f"running as root without a writable {controller} cgroup: "
                                 + {"pids": "no fork-bomb limit",
                                    "memory": "memory is limited per process only (RLIMIT_AS)",
                                    "cpu": "no CPU quota (CPU time per process only)"}[controller])
        if not SECCOMP:
            notes.append(f"no seccomp filter for this machine ({platform.machine()}): sandboxes "
                         "of one uid share the kernel keyring")
        notes.extend(self.problems)
        return notes


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """Probe this machine once: Landlock, namespaces, cgroups, and an unprivileged sandbox
    (started for real on a scratch workspace, so that what is reported is what works)."""
    abi = _landlock_abi()
    root = os.geteuid() == 0
    if root:
        sweep_orphans()
    cgroups = _detect_cgroups() if root else ()
    disk = root and _can_mount_tmpfs()
    base = Isolation(abi, False, cgroups, root, disk_quota=disk)
    if shutil.which("unshare") is None:
        return base
    problems: list[str] = []
    candidates = []
    hidden = tuple(_unreachable_roots(SANDBOX_UID, SANDBOX_GID)) if root else ()
    if root:
        candidates.append(Isolation(abi, True, cgroups, root, True, SANDBOX_UID, SANDBOX_GID, hidden,
                                    disk))
        if not hidden:  # no private mount needed to reach the interpreter
            candidates.append(Isolation(abi, True, cgroups, root, False, SANDBOX_UID, SANDBOX_GID,
                                        disk_quota=disk))
    candidates.append(Isolation(abi, True, cgroups, root, True, disk_quota=disk))
    candidates.append(Isolation(abi, True, cgroups, root, False, disk_quota=disk))
    for candidate in candidates:
        why = _probe(candidate)
        if why is None:
            return dataclasses.replace(candidate, problems=tuple(problems))
        if candidate.sandbox_uid is not None and not problems:
            problems.append(f"could not run the sandbox as uid {candidate.sandbox_uid} ({why}); "
                            "falling back to a user namespace mapped to root")
    return Isolation(abi, False, cgroups, root, disk_quota=disk, problems=tuple(problems))


def _detect_cgroups() -> tuple[tuple[str, Path], ...]:
    found = []
    v2 = (_CGROUP_V2 / "cgroup.controllers").exists()
    for controller in ("pids", "memory", "cpu"):
        base = _CGROUP_V2 if v2 else _CGROUP_V1[controller]
        if v2:
            with contextlib.suppress(OSError):
                (base / "cgroup.subtree_control").write_text(f"+{controller}")
        probe = base / f"flamethrower-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
        except OSError:
            continue
        try:
            if (probe / _CGROUP_FILES[controller][0 if v2 else 1]).exists() and \
                    (probe / "cgroup.procs").exists():
                found.append((controller, base))
        finally:
            with contextlib.suppress(OSError):
                probe.rmdir()
    return tuple(found)


def _reachable(path: str, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` (no supplementary groups) can enter every folder down to ``path``
    and read it."""
    parts = Path(path).parts
    for depth in range(1, len(parts) + 1):
        folder = Path(*parts[:depth])
        try:
            info = os.stat(folder)
        except OSError:
            return False
        need = stat.S_IXOTH | (stat.S_IROTH if depth == len(parts) else 0)
        mode = info.st_mode
        if info.st_uid == uid:
            bits = (mode >> 6) & 7
        elif info.st_gid == gid:
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        if bits & need != need:
            return False
    return True


def _unreachable_roots(uid: int, gid: int, paths: list[str] | None = None) -> list[str]:
    """The outermost folders the sandbox uid cannot enter that hold ``paths`` (by default the
    Python installation)."""
    roots = []
    for prefix in _prefixes() if paths is None else paths:
        if _reachable(prefix, uid, gid):
            continue
        parts = Path(prefix).parts
        for depth in range(2, len(parts) + 1):
            if not _reachable(str(Path(*parts[:depth])), uid, gid):
                roots.append(str(Path(*parts[:depth])))
                break
    return sorted(set(roots))


def _probe(isolation: Isolation) -> str | None:
    """Start a sandbox as ``isolation`` describes and check that Python runs in it; None if it
    did, else why not."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="flamethrower-probe-") as scratch:
        workspace = Path(scratch)
        (workspace / "out").mkdir()
        (workspace / "tmp").mkdir()
        log = workspace / "probe.log"
        listing = "os.listdir('/proc')" if isolation.private_mounts else "[]"
        check = ("import os, json; open('out/probe', 'w').write(json.dumps("
                 f"[os.getuid(), {listing}]))")
        try:
            child = _start(isolation, workspace, {}, log, Limits(),
                           [sys.executable, "-I", "-c", check])
        except OSError as error:
            return str(error)
        try:
            child.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            return "the probe timed out"
        finally:
            child.kill()
        try:
            uid, listing = json.loads((workspace / "out" / "probe").read_text())
        except (OSError, ValueError):
            tail = (read_regular(log, 300, tail=True) or b"").decode(errors="replace").strip()
            return f"exit status {child.process.returncode}: {printable(tail, 300)}"
        if isolation.sandbox_uid is not None and uid != isolation.sandbox_uid:
            return f"it ran as uid {uid}"
        if isolation.private_mounts and str(os.getpid()) in listing:
            return "its /proc shows host processes"
        return None


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount_tmpfs(folder: Path, limits: Limits) -> None:
    """Mount a tmpfs of ``limits.disk_bytes`` and ``limits.disk_files`` on ``folder``, named
    after this process (see ``ORPHAN_NAME``).

    Raises:
        OSError: if the mount fails (not root, no tmpfs).
    """
    options = f"size={limits.disk_bytes},nr_inodes={limits.disk_files},mode=0755"
    if _libc().mount(f"flamethrower-{os.getpid()}".encode(), str(folder).encode(), b"tmpfs",
                     ctypes.c_ulong(_MS_NOSUID | _MS_NODEV), options.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mounting a tmpfs on {folder}: {os.strerror(error)}")


def _unmount(folder: str | Path) -> None:
    """Detach the mount on ``folder`` (lazily: it goes once nothing uses it); no error if none."""
    _libc().umount2(str(folder).encode(), _MNT_DETACH)


def _can_mount_tmpfs() -> bool:
    import tempfile
    with tempfile.TemporaryDirectory(prefix="flamethrower-probe-") as scratch:
        try:
            _mount_tmpfs(Path(scratch), Limits(disk_bytes=1 << 20, disk_files=16))
        except OSError:
            return False
        _unmount(scratch)
        return True


@contextlib.contextmanager
def disk_limited(folder: Path, limits: Limits = Limits()) -> Iterator[Path]:
    """Make the folder ``folder`` (which must not exist) and, where ``detect().disk_quota``, mount
    a tmpfs of ``limits.disk_bytes`` bytes and ``limits.disk_files`` inodes on it for the
    ``with`` block: whatever is written there, by the grader or the sandbox, stops with ENOSPC
    at those sizes. On leaving, the tmpfs is detached (its contents go with it) and the folder
    removed. Without a quota it is a plain folder, removed with all it holds.

    Raises:
        FileExistsError: if ``folder`` exists.
    """
    folder.mkdir(mode=0o755)
    mounted = False
    if detect().disk_quota:
        with stop_signals_held():  # no mount left unrecorded by a stop signal
            _mount_tmpfs(folder, limits)
            mounted = True
    try:
        yield folder
    finally:
        if mounted:
            _unmount(folder)
        remove_tree(folder)


def die_with_parent(parent: int) -> None:
    """Have this process killed (SIGKILL) when its parent, pid ``parent``, dies: for the grader's
    batch workers, whose sandboxes then die with them. Exits at once if that parent is gone."""
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep_orphans() -> list[str]:
    """Remove what graders that died without cleaning up (SIGKILL, a crash) left behind: the
    tmpfs mounts and cgroups named after a pid that is no longer alive (``ORPHAN_NAME``); the
    processes still in such a cgroup are killed first. Root only; those of live graders are
    left alone.

    Returns:
        The mount points and cgroup folders removed.
    """
    removed = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            if " - " not in line or len(fields) < 5:
                continue
            kind, source = line.split(" - ", 1)[1].split()[:2]
            match = ORPHAN_NAME.fullmatch(source)
            if kind == "tmpfs" and match and not _alive(int(match[1])):
                target = fields[4].encode().decode("unicode_escape")  # mountinfo's \040 escapes
                _unmount(target)
                removed.append(target)
                for folder in (target, os.path.dirname(target)):  # an empty scratch folder
                    if os.path.basename(folder).startswith(("flamethrower-", "area")):
                        with contextlib.suppress(OSError):
                            os.rmdir(folder)
    bases = {_CGROUP_V2} if (_CGROUP_V2 / "cgroup.controllers").exists() else set(_CGROUP_V1.values())
    for base in bases:
        with contextlib.suppress(OSError):
            for cgroup in base.iterdir():
                match = ORPHAN_NAME.fullmatch(cgroup.name)
                if cgroup.is_dir() and match and not _alive(int(match[1])):
                    _remove_cgroup(cgroup)
                    removed.append(str(cgroup))
    return removed


def _landlock_abi() -> int:
    abi: int = _libc().syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(abi, 0)


def _prefixes() -> list[str]:
    return sorted({os.path.realpath(p) for p in (
        sys.prefix, sys.base_prefix, sys.exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent))})


# What the sandbox may read besides its workspace and the Python installation: system
# libraries, the compiler and its headers, and the few files of /etc that the dynamic loader,
# locale, time zone and compiler alternatives need. Not /etc as a whole (/etc/shadow, keys).
SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin",
               "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
               "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
               "/etc/fonts", "/etc/os-release",
               "/sys/devices/system/cpu", "/sys/devices/system/node",
               "/dev/urandom", "/dev/random", "/dev/zero", "/dev/full"]
# Without a fresh /proc (no mount namespace) only these host-wide files are readable.
PROC_READ = ["/proc/cpuinfo", "/proc/meminfo", "/proc/stat"]


def read_only_paths(private_proc: bool | None = None) -> list[str]:
    """What a sandboxed child may read (and execute) besides its workspace: the Python
    installation, ``SYSTEM_READ``, and ``/proc`` where it is the sandbox's own (else
    ``PROC_READ``)."""
    if private_proc is None:
        private_proc = detect().private_mounts
    return _prefixes() + SYSTEM_READ + (["/proc"] if private_proc else PROC_READ)


def child_env(workspace: Path) -> dict[str, str]:
    """A clean environment: nothing of the grader's, one BLAS thread, temp files in the workspace."""
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(workspace),
            "TMPDIR": str(workspace / "tmp"), "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Child:
    """A running sandboxed child; ``kill()`` ends it and everything it started."""

    process: subprocess.Popen[bytes]
    cgroups: tuple[Path, ...] = ()
    killed: bool = False

    @property
    def cgroup(self) -> Path | None:
        return self.cgroups[0] if self.cgroups else None

    def kill(self) -> None:
        """SIGKILL the child's process group (under namespaces: ``unshare`` and the PID
        namespace's init, whose death ends every process in it), wait for it, and empty and
        remove its cgroups. Only the first call acts: the group's id may be reused after that."""
        with stop_signals_held():
            if self.killed:
                return
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait()
            for cgroup in self.cgroups:
                _remove_cgroup(cgroup)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold back SIGTERM, SIGINT and SIGHUP in this thread for the ``with`` block; one that
    arrives meanwhile is delivered (its handler runs) when the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(workspace: Path, payload: Mapping[str, object], log: Path, limits: Limits,
          exec_command: list[str] | None = None) -> Child:
    """Start the harness in ``workspace`` on ``payload``, its output going to ``log``.

    Args:
        payload: the JSON object of the ``protocol.Suite`` to run; the sandbox adds its
            ``protocol.Confinement`` under ``protocol.CONFINEMENT``.
        exec_command: a command for the harness to run once it is locked in, instead of
            tests (the sandboxed build); ``payload`` is then not read.
    """
    return _start(detect(), workspace, payload, log, limits, exec_command)


def give_workspace(workspace: Path, uid: int, gid: int) -> None:
    """Make ``workspace`` (its whole tree, links not followed, hard-linked files left alone)
    owned by the sandbox's uid/gid, so that the sandbox can write there; the root grader can
    still read and remove everything."""
    for folder, dirs, files in os.walk(workspace):
        for name in [".", *dirs, *files]:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
                if (info.st_uid, info.st_gid) == (uid, gid) or \
                        (not stat.S_ISDIR(info.st_mode) and info.st_nlink != 1):
                    continue
                os.chown(path, uid, gid, follow_symlinks=False)
            except OSError:
                pass


@functools.lru_cache(maxsize=1)
def harness_program() -> str:
    """The program the sandbox runs the harness as (``python -I -c``): ``protocol.py``'s text
    made the module ``grader.protocol``, then ``harness.py``'s text run as ``__main__``. Both
    travel as text, read once per grading process, so the sandbox reads neither file and no
    run can change what a later run executes."""
    return _HARNESS_PROGRAM.format(protocol=PROTOCOL.read_text(), harness=HARNESS.read_text())


def confinement(isolation: Isolation, workspace: Path) -> Confinement:
    """How the harness must lock itself in to run in ``workspace`` (a resolved path) as
    ``isolation`` allows."""
    hide: list[str] = []
    expose: list[str] = []
    if isolation.private_mounts:
        hidden = ["/tmp", *isolation.hidden]
        if isolation.sandbox_uid is not None and isolation.sandbox_gid is not None:
            # a workspace under a folder closed to the uid
            hidden += _unreachable_roots(isolation.sandbox_uid, isolation.sandbox_gid,
                                         [str(workspace)])
        # an empty tmpfs over the outermost folders only: what lies below them is hidden too
        hide = sorted(h for h in set(hidden) if not any(
            h != o and h.startswith(o.rstrip("/") + "/") for o in hidden))
        expose = [str(workspace), *_prefixes()]
    return Confinement(str(workspace), isolation.landlock_abi > 0,
                       read_only_paths(isolation.private_mounts), [str(workspace), "/dev/null"],
                       hide, expose, PRIVATE_TMP_OPTIONS if isolation.private_mounts else "",
                       isolation.sandbox_uid, isolation.sandbox_gid)


def _start(isolation: Isolation, workspace: Path, payload: Mapping[str, object], log: Path,
           limits: Limits, exec_command: list[str] | None = None) -> Child:
    workspace = Path(os.path.realpath(workspace))
    request = {**payload, CONFINEMENT: confinement(isolation, workspace).to_json()}
    # after ``confinement``, which checks what the uid reaches
    if isolation.sandbox_uid is not None and isolation.sandbox_gid is not None:
        give_workspace(workspace, isolation.sandbox_uid, isolation.sandbox_gid)
    command = [sys.executable, "-I", "-c", harness_program()]
    if exec_command:
        command += ["--exec", *exec_command]
    if isolation.namespaces:
        user = [] if isolation.sandbox_uid is not None else ["--user", "--map-root-user"]
        mount = _MOUNT if isolation.private_mounts else []
        command = ["unshare", *user, *_NAMESPACES, *mount, "--", *command]
    cgroups: list[Path] = []
    processes = None
    if not isolation.root:
        processes = _process_count(os.getuid()) + limits.processes
    elif isolation.pids_cgroup is None and isolation.sandbox_uid is not None:
        processes = _process_count(isolation.sandbox_uid) + limits.processes

    libc = _libc()

    def limit_child() -> None:  # runs in the child between fork and exec
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the grader
        for number in STOP_SIGNALS:  # not the parent's handlers (check-hwN's raise)
            signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # held in the parent (below)
        for cgroup in cgroups:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))

    # Held from the cgroups' creation until the Child that owns them exists: a signal handler
    # that raises (as check-hwN's does) cannot leave a child that nobody kills.
    child = None
    try:
        with stop_signals_held():
            _make_cgroups(isolation, limits, cgroups)
            with open(log, "wb") as output:
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=output,
                                           stderr=subprocess.STDOUT, cwd=workspace,
                                           env=child_env(workspace), start_new_session=True,
                                           preexec_fn=limit_child, close_fds=True)
            child = Child(process, tuple(cgroups))
        try:
            assert process.stdin is not None  # stdin=PIPE
            process.stdin.write(json.dumps(request).encode())
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child is already gone; its missing results say so
    except BaseException:
        if child is not None:
            child.kill()
        else:
            for cgroup in cgroups:  # Popen failed: no child owns them
                if cgroup.exists():
                    _remove_cgroup(cgroup)
        raise
    return child


def _make_cgroups(isolation: Isolation, limits: Limits, made: list[Path]) -> None:
    """Make the sandbox's cgroup(s) (one per v1 hierarchy, one in all under v2), appending each
    to ``made`` as soon as it exists, and set their limits."""
    name = f"flamethrower-{os.getpid()}-{uuid.uuid4().hex[:16]}"
    folders: dict[Path, Path] = {}
    for controller, base in isolation.cgroups:
        if base not in folders:
            folders[base] = base / name
            folders[base].mkdir()
            made.append(folders[base])
        folder = folders[base]
        v2 = (folder / "cgroup.controllers").exists()
        if controller == "pids":
            (folder / "pids.max").write_text(str(limits.processes))
        elif controller == "memory" and v2:
            (folder / "memory.max").write_text(str(limits.total_memory_bytes))
            with contextlib.suppress(OSError):
                (folder / "memory.swap.max").write_text("0")
        elif controller == "memory":
            (folder / "memory.limit_in_bytes").write_text(str(limits.total_memory_bytes))
            with contextlib.suppress(OSError):
                (folder / "memory.memsw.limit_in_bytes").write_text(str(limits.total_memory_bytes))
        elif controller == "cpu":
            quota = max(int(limits.cpus * 100_000), 1000)
            if v2:
                (folder / "cpu.max").write_text(f"{quota} 100000")
            else:
                (folder / "cpu.cfs_period_us").write_text("100000")
                (folder / "cpu.cfs_quota_us").write_text(str(quota))


def run(workspace: Path, command: list[str], log: Path, limits: Limits, timeout: float) -> int | None:
    """Run ``command`` in ``workspace``, locked in as the harness is, its output going to ``log``.

    Returns:
        Its exit status, or None if it was still running after ``timeout`` seconds (it and
        everything it started are then killed).
    """
    child = start(workspace, {}, log, limits, exec_command=command)
    try:
        deadline = time.monotonic() + timeout
        while child.process.poll() is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return child.process.returncode
    finally:
        child.kill()


def _process_count(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += entry.stat().st_uid == uid
    return count


def _remove_cgroup(cgroup: Path) -> None:
    procs = cgroup / "cgroup.procs"
    for _ in range(100):
        try:
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
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
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:  # before fdopen: it refuses folders
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as f:
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
