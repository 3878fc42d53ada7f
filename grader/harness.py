"""The child side of the grader's process boundary: runs hidden tests on a submission.

Run only by ``grader.runner`` as ``python -I -c <this file's source>`` with a JSON payload on
standard input, so that no copy of it sits where student code could rewrite it between runs.
It is self-contained (standard library and NumPy only).

It first leaves root where the grader is root (private mounts for ``/tmp`` and folders the
sandbox uid cannot enter, then an unprivileged uid with no capabilities), locks itself in (Landlock: read-only access to the Python installation and system
libraries, read-write to its own workspace, no TCP, no signals to processes outside; seccomp:
no kernel keyring, bpf, perf_event_open or userfaultfd), then compiles the hidden test modules
from source held in memory, drops that source (see ``run_tests`` for what remains in the
process), and runs the tests one at a time. Each test returns a dict of arrays; the harness
writes them to ``out/<test>.npz`` (plain numeric arrays only, never pickles) and its status to
``out/<test>.json`` (an error names the nearest builtin exception type, ``_type_name``). Before
each test it names it in ``out/current``, so the parent can tell which test a crash or a hang
belongs to.
Nothing here decides a score: the parent compares the values with the answer key.

With ``--exec CMD...`` it locks itself in the same way and then ``exec``s CMD (the sandboxed
C++ build).
"""
import ctypes
import inspect
import json
import os
import sys
import traceback
import types

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


def _fs_handled(abi):
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= 1 << 13  # REFER
    if abi >= 3:
        rights |= 1 << 14  # TRUNCATE
    if abi >= 5:
        rights |= 1 << 15  # IOCTL_DEV
    return rights


def landlock_abi():
    """Landlock's ABI version, or 0 where the kernel lacks it."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(abi, 0)


def landlock(read_paths, write_paths):
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


def refuse_syscalls():
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
    instructions = (Instruction * len(program))(*program)
    fprog = Program(len(program), instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")
    return sorted(numbers)


# ---- leaving root: private mounts, then an unprivileged uid (when the grader is root) --------
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC = 2, 4, 4096, 16384
_PR_CAPBSET_DROP, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4


def private_mounts(hide, expose, tmpfs_options):
    """In this (new) mount namespace: an empty tmpfs over each folder of ``hide`` (``/tmp``,
    and folders the sandbox uid cannot enter), then each path of ``expose`` (the workspace,
    the Python installation) bound back at its own place if it was hidden."""
    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source, target, kind, flags, data):
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


def drop_privileges(uid, gid):
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

def _atomic_write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _values(result):
    """A test's returned dict as plain numeric NumPy arrays, or raise TypeError."""
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


def _type_name(error):
    """The name of the nearest builtin class in ``error``'s type's MRO (``ValueError`` for
    NumPy's ``AxisError``, ``Exception`` for a class of the submission's own): a short name
    from a fixed list. The parent shows no other (``grader.feedback.exception_type``)."""
    import builtins
    for cls in type(error).__mro__:
        if isinstance(cls, type) and getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "BaseException"


def run_tests(payload):
    """Compile the hidden modules in ``payload["modules"]``, drop their source, run the tests.

    The source text is compiled, module by module (helpers first), and then removed from the
    payload before any module runs, so no object the submission can reach holds it: not the
    payload (found through frames or ``gc``), not ``linecache`` (the ``<hidden:NAME>`` file
    names are ones it never reads), not ``inspect.getsource``. What necessarily remains is
    the compiled code the tests run (code objects: bytecode, names, constants, line
    numbers), from which a submission can rebuild much of the test's structure. Memory is not
    wiped: a submission reading its own process's memory (``ctypes``, ``/proc/self/mem``)
    may find fragments of the JSON text the source arrived in. The parent therefore treats
    every message as untrusted and redacts it (``grader.feedback.redact``).
    """
    import io

    import numpy as np
    out = payload["out"]
    sources = payload.pop("modules")  # compiled here, then held by nothing
    code = {name: compile(sources.pop(name), f"<hidden:{name}>", "exec") for name in list(sources)}
    modules = {}
    for name, module_code in code.items():  # helpers first, the test module last
        module = types.ModuleType(name)
        module.__file__ = f"<hidden:{name}>"
        sys.modules[name] = module
        exec(module_code, module.__dict__)
        modules[name] = module
    tests = modules[payload["test_module"]]
    fixtures = payload["fixtures"]
    for name in payload["tests"]:
        _atomic_write(os.path.join(out, "current"), name.encode())
        status = {"status": "ok"}
        try:
            function = getattr(tests, name)
            kwargs = {p: fixtures[p] for p in inspect.signature(function).parameters}
            arrays = _values(function(**kwargs))
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            _atomic_write(os.path.join(out, name + ".npz"), buffer.getvalue())
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: one test fails
            frames = traceback.extract_tb(error.__traceback__)
            where = next((f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(frames)
                          if not f.filename.startswith("<")), "")
            status = {"status": "error", "error": f"{_type_name(error)}: {error}"[:2000],
                      "where": where}
        _atomic_write(os.path.join(out, name + ".json"), json.dumps(status).encode())
    _atomic_write(os.path.join(out, "current"), b"")  # a clean finish: no test is running


def main():
    exec_mode = len(sys.argv) > 1 and sys.argv[1] == "--exec"
    payload = json.loads(sys.stdin.read())
    sandbox = payload.get("sandbox", {})
    if sandbox.get("hide"):
        private_mounts(sandbox["hide"], sandbox["expose"], sandbox["tmpfs"])
    if "uid" in sandbox:
        drop_privileges(sandbox["uid"], sandbox["gid"])
        # changing uid cleared the parent-death signal that ``unshare --kill-child`` set: re-arm
        # it, so that this process (and with it the whole PID namespace) dies with the grader
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)
    os.chdir(payload["workspace"])
    report = {"landlock": 0, "uid": os.getuid()}
    if payload.get("landlock"):
        report["landlock"] = landlock(payload["read"], payload["write"])
    report["refused_syscalls"] = refuse_syscalls()
    if exec_mode:
        command = sys.argv[2:]
        os.execvp(command[0], command)
    _atomic_write(os.path.join(payload["out"], "harness.json"), json.dumps(report).encode())
    sys.path[:0] = payload["paths"]
    run_tests(payload)


if __name__ == "__main__":
    main()
