"""The child side of the grader's process boundary: runs hidden tests on a submission.

Run only by ``grader.sandbox`` as ``python -I -c <program>`` (``sandbox.harness_program``: this
file's source and ``grader.protocol``'s, as text) with a JSON request on standard input, so
that no copy of it sits where student code could rewrite it between runs. It uses the standard
library, NumPy and ``grader.protocol`` only.

It first leaves root where the grader is root (private mounts for ``/tmp`` and folders the
sandbox uid cannot enter, then an unprivileged uid with no capabilities), locks itself in
(Landlock: read-only access to the Python installation and system libraries, read-write to its
own workspace, no TCP, no signals to processes outside; seccomp: no kernel keyring, bpf,
perf_event_open or userfaultfd), then compiles the hidden test modules
from source held in memory, drops that source (see ``run_tests`` for what remains in the
process), and runs the tests one at a time. Each test returns a dict of arrays; the harness
writes them to the test's ``protocol.values_file`` (plain numeric arrays only, never pickles)
and its ``protocol.TestStatus`` to its ``protocol.status_file`` (an error names the nearest
builtin exception type, ``_type_name``). Before each test it names it in ``protocol.CURRENT``,
so the parent can tell which test a crash or a hang belongs to (``grader.protocol`` describes
every message and file).
Nothing here decides a score: the parent compares the values with the answer key.

With ``--exec CMD...`` it locks itself in the same way and then ``exec``s CMD (the sandboxed
C++ build).
"""
from __future__ import annotations

import ctypes
import inspect
import json
import os
import sys
import traceback
import types
from typing import Any

# Absolute, not relative: in the sandbox, ``sandbox.harness_program`` provides this module.
from grader.protocol import (
    CONFINEMENT,
    CURRENT,
    HARNESS_REPORT,
    MAX_ERROR_CHARS,
    Confinement,
    HarnessReport,
    Suite,
    TestStatus,
    status_file,
    values_file,
)

# ---- Landlock (Linux >= 5.13), through raw system calls --------------------------------------
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE, READ_FILE, READ_DIR
_FS_FILE_ONLY = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # rights a file rule may hold
# Everything but MAKE_SYM (12) and REFER (13): no symlinks or cross-folder hard links, so the
# sandbox can plant nothing that makes the parent read outside the workspace.
_FS_WRITE = _FS_READ | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | \
    (1 << 9) | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15)


def _fs_handled(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= 1 << 13  # REFER
    if abi >= 3:
        rights |= 1 << 14  # TRUNCATE
    if abi >= 5:
        rights |= 1 << 15  # IOCTL_DEV
    return rights


def landlock_abi() -> int:
    """Landlock's ABI version, or 0 where the kernel lacks it."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi: int = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(abi, 0)


def landlock(read_paths: list[str], write_paths: list[str]) -> int:
    """Restrict this process and its descendants to the given paths; returns the ABI used.

    Also, where the kernel supports it, forbids TCP bind/connect (ABI 4) and signals or
    abstract Unix sockets reaching processes outside the sandbox (ABI 6).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    handled = _fs_handled(abi)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    attr = RulesetAttr(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, rights in ((read_paths, _FS_READ), (write_paths, _FS_WRITE)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a path this machine lacks
                try:
                    allowed = rights & handled
                    if not os.path.isdir(path):
                        allowed &= _FS_FILE_ONLY
                    rule = PathBeneath(allowed, fd)
                    if libc.syscall(_SYS_ADD_RULE, ruleset, ctypes.c_int(1), ctypes.byref(rule),
                                    ctypes.c_uint32(0)) < 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
                finally:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


# ---- seccomp: the few system calls that reach past every namespace ----------------------------
# The kernel keyring is not namespaced: two sandboxes running as the same uid (nobody) share its
# user keyring, a channel between students that outlives both. bpf, perf_event_open and
# userfaultfd are kernel attack surface no test needs. Docker's default profile refuses them all.
_REFUSED_SYSCALLS = {
    # machine: (AUDIT_ARCH, {name: number})
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250,
                            "perf_event_open": 298, "bpf": 321, "userfaultfd": 323}),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219,
                             "perf_event_open": 241, "bpf": 280, "userfaultfd": 282}),
}
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO, _EPERM = 0x7FFF0000, 0x00050000, 1
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06


def refuse_syscalls() -> list[str]:
    """Install a seccomp filter failing ``_REFUSED_SYSCALLS`` with EPERM for this process and its
    descendants (no_new_privs must be set); returns the names refused, [] on another machine.

    The filter (a classic BPF program, as in seccomp(2)): a call from another architecture, or
    an x32 call on x86_64, is refused outright; then each listed number is refused, and the
    rest allowed.
    """
    import platform
    machine = platform.machine()
    if machine not in _REFUSED_SYSCALLS:
        return []
    arch, numbers = _REFUSED_SYSCALLS[machine]

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    deny = _SECCOMP_RET_ERRNO | _EPERM
    body = [(_BPF_JEQ_K, 0, 1, n) for n in numbers.values()]
    program = [(_BPF_LD_W_ABS, 0, 0, 4),                    # seccomp_data.arch
               (_BPF_JEQ_K, 1, 0, arch), (_BPF_RET_K, 0, 0, deny),
               (_BPF_LD_W_ABS, 0, 0, 0),                    # seccomp_data.nr
               (_BPF_JGE_K, 0, 1, 0x40000000), (_BPF_RET_K, 0, 0, deny)]  # x32 calls
    for code, jt, jf, number in body:  # each: equal -> the next instruction (deny), else skip it
        program += [(code, jt, jf, number), (_BPF_RET_K, 0, 0, deny)]
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    instructions = (Instruction * len(program))(*(Instruction(*p) for p in program))
    fprog = Program(len(program), instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")
    return sorted(numbers)


# ---- leaving root: private mounts, then an unprivileged uid (when the grader is root) --------
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC = 2, 4, 4096, 16384
_PR_CAPBSET_DROP, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4


def private_mounts(hide: list[str], expose: list[str], tmpfs_options: str) -> None:
    """In this (new) mount namespace: an empty tmpfs over each folder of ``hide`` (``/tmp``,
    and folders the sandbox uid cannot enter), then each path of ``expose`` (the workspace,
    the Python installation) bound back at its own place if it was hidden."""
    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source: str, target: str, kind: str | None, flags: int, data: str | None) -> None:
        if libc.mount(source.encode(), target.encode(), kind.encode() if kind else None,
                      ctypes.c_ulong(flags), data.encode() if data else None) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"mount {source} on {target}: {os.strerror(error)}")

    fds = {}
    for path in expose:
        if any(path == h or path.startswith(h.rstrip("/") + "/") for h in hide):
            fds[path] = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    for folder in hide:
        options = tmpfs_options if folder == "/tmp" else "size=1m,nr_inodes=1024,mode=755"
        mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    for path, fd in fds.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)
        os.close(fd)


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` for good: no supplementary groups, an empty capability bounding
    set, no ambient, permitted or effective capabilities, no_new_privs. Checked, not assumed."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    caps = [int(status[k].strip(), 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
            if k in status]
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups() \
            or any(caps) or status.get("NoNewPrivs", "1").strip() != "1":
        raise OSError("could not drop privileges")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise OSError("still able to become root")


# ---- running tests ---------------------------------------------------------------------------

def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _values(result: object) -> dict[str, Any]:
    """A test's returned dict as plain numeric NumPy arrays (C-contiguous ``ndarray``s of a bool,
    int, uint or float dtype) by name, or raise TypeError."""
    import numpy as np
    if not isinstance(result, dict) or not result:
        raise TypeError(f"a hidden test must return a non-empty dict of arrays, got {type(result).__name__}")
    arrays = {}
    for name, value in result.items():
        if type(name) is not str or not name.isidentifier():
            raise TypeError(f"value name {name!r} is not an identifier")
        array = np.array(value, copy=True)  # a plain ndarray: subclasses and objects are dropped
        if type(array) is not np.ndarray or array.dtype.kind not in "biuf":
            raise TypeError(f"value {name!r} is not a numeric array (dtype {array.dtype})")
        arrays[name] = np.ascontiguousarray(array)
    return arrays


def _type_name(error: BaseException) -> str:
    """The name of the nearest builtin class in ``error``'s type's MRO (``ValueError`` for
    NumPy's ``AxisError``, ``Exception`` for a class of the submission's own): a short name
    from a fixed list. The parent shows no other (``grader.feedback.exception_type``)."""
    import builtins
    for cls in type(error).__mro__:
        if isinstance(cls, type) and getattr(builtins, cls.__name__, None) is cls:
            return str(cls.__name__)
    return "BaseException"


def run_tests(payload: dict[str, object], report: HarnessReport | None = None) -> None:
    """Run the ``protocol.Suite`` that ``payload`` (a JSON object) holds: compile its hidden
    modules, drop their source, run the tests.

    The source text is compiled, module by module (helpers first), and then removed from the
    payload and the suite before any module runs, so no object the submission can reach holds
    it: not the payload (found through frames or ``gc``), not ``linecache`` (the
    ``<hidden:NAME>`` file names are ones it never reads), not ``inspect.getsource``. What
    necessarily remains is the compiled code the tests run (code objects: bytecode, names,
    constants, line numbers), from which a submission can rebuild much of the test's
    structure. Memory is not wiped: a submission reading its own process's memory (``ctypes``,
    ``/proc/self/mem``) may find fragments of the JSON text the source arrived in. The parent
    therefore treats every message as untrusted and redacts it (``grader.feedback.redact``).

    Args:
        payload: the request's JSON object; emptied here (it holds the hidden source).
        report: how the harness locked itself in, written first to ``protocol.HARNESS_REPORT``
            (None outside the sandbox).

    Raises:
        ProtocolError: if ``payload`` holds no valid suite.
    """
    import io

    import numpy as np
    suite = Suite.from_json(payload)
    payload.clear()  # its copy of the hidden source goes; ``suite.modules`` holds the one left
    out = suite.out
    if report is not None:
        _atomic_write(os.path.join(out, HARNESS_REPORT), json.dumps(report.to_json()).encode())
    sys.path[:0] = suite.paths
    # needle's fast paths (given code: fused kernels, conv's direct kernels) would compute what
    # the student's own regions should; off, before the tests import needle, they grade those.
    os.environ["NEEDLE_FAST_PATHS"] = "0"
    sources = suite.modules  # compiled here, then held by nothing
    code = {name: compile(sources.pop(name), f"<hidden:{name}>", "exec") for name in list(sources)}
    modules = {}
    for name, module_code in code.items():  # helpers first, the test module last
        module = types.ModuleType(name)
        module.__file__ = f"<hidden:{name}>"
        sys.modules[name] = module
        exec(module_code, module.__dict__)
        modules[name] = module
    tests = modules[suite.test_module]
    for name in suite.tests:
        _atomic_write(os.path.join(out, CURRENT), name.encode())
        status = TestStatus(ok=True)
        try:
            function = getattr(tests, name)
            kwargs = {p: suite.fixtures[p] for p in inspect.signature(function).parameters}
            arrays = _values(function(**kwargs))
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            _atomic_write(os.path.join(out, values_file(name)), buffer.getvalue())
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: one test fails
            frames = traceback.extract_tb(error.__traceback__)
            where = next((f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(frames)
                          if not f.filename.startswith("<")), "")
            status = TestStatus(False, f"{_type_name(error)}: {error}"[:MAX_ERROR_CHARS], where)
        _atomic_write(os.path.join(out, status_file(name)), json.dumps(status.to_json()).encode())
    _atomic_write(os.path.join(out, CURRENT), b"")  # a clean finish: no test is running


def lock_in(confinement: Confinement) -> HarnessReport:
    """Confine this process as ``confinement`` says: private mounts, an unprivileged uid,
    Landlock, seccomp (each where asked and available). Returns the ``HarnessReport``."""
    if confinement.hide:
        private_mounts(confinement.hide, confinement.expose, confinement.tmpfs)
    if confinement.uid is not None and confinement.gid is not None:
        drop_privileges(confinement.uid, confinement.gid)
        # changing uid cleared the parent-death signal that ``unshare --kill-child`` set: re-arm
        # it, so that this process (and with it the whole PID namespace) dies with the grader
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)
    os.chdir(confinement.workspace)
    abi = landlock(confinement.read, confinement.write) if confinement.landlock else 0
    return HarnessReport(abi, os.getuid(), refuse_syscalls())


def main() -> None:
    """Lock in as the request on standard input says, then run its suite (or, with
    ``--exec CMD...``, the command)."""
    exec_mode = len(sys.argv) > 1 and sys.argv[1] == "--exec"
    payload = json.loads(sys.stdin.read())
    report = lock_in(Confinement.from_json(payload.pop(CONFINEMENT)))
    if exec_mode:
        command = sys.argv[2:]
        os.execvp(command[0], command)
    run_tests(payload, report)


if __name__ == "__main__":
    main()
