"""Run untrusted programs contained, the way judge systems do.

Each run is one `bwrap` (bubblewrap) process, started as the unprivileged user
`nobody` when schedcast runs as root:

- new user, PID, network, IPC, UTS and cgroup namespaces; the program is PID 1 of
  its namespace (`--as-pid-1`), so every process it starts (`setsid` or not) dies
  with it, and it sees no other process of the host or of another run;
- a private mount namespace: an empty root with `/usr` (and the `/bin`, `/lib`
  links) read-only, its own `/proc`, a minimal `/dev`, size-capped tmpfs at `/tmp`,
  `/dev/shm` and its working directory `/work`, its binary read-only at `/prog`.
  Nothing else of the host is visible, nothing of the host is writable;
- its trace, status, stdout and stderr are descriptors opened by the collector on
  files in a directory only root can reach; the program never sees their paths;
- a cgroup (v1 or v2, whichever the machine mounts) caps memory including shared
  memory and tmpfs, the number of processes and threads, and CPU bandwidth; at
  the end of the run every process left in it is killed;
- resource limits (CPU time, data segment, file size, open files, no core dumps);
- `bwrap` gets the parent-death signal (SIGKILL) and passes it on to the program
  (`--die-with-parent`): if schedcast dies, even by `kill -9`, its runs die.

Where bubblewrap, namespaces or cgroups are missing, the run falls back to what the
machine offers (`unshare`, `setpriv`, rlimits) and the run record says which
containment applied (`sandbox` column); `schedcast doctor` names what is missing.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import resource
import secrets
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

NOBODY_UID = 65534
NOBODY_GID = 65534
PR_SET_PDEATHSIG = 1
SANDBOX_WORKDIR = "/work"
SANDBOX_BINARY = "/prog"
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux/glibc: no parent-death signal
    _libc = None


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 120
    memory_bytes: int = 2 << 30  # memory the program may use: heap, shared memory, its tmpfs files
    race_memory_factor: int = 4  # race builds: shadow memory counts too (measured: heap ~= memory_bytes)
    processes: int = 512  # processes and threads (cgroup pids; RLIMIT_NPROC without a cgroup)
    file_bytes: int = 256 << 20  # largest file (trace, stdout, stderr): RLIMIT_FSIZE
    open_files: int = 256
    output_keep_bytes: int = 64 << 10  # stdout/stderr kept in the run record (head+tail)
    term_grace_seconds: float = 2.0  # SIGTERM -> SIGKILL
    tmpfs_bytes: int = 64 << 20  # each of /tmp, /dev/shm and the working directory
    cpu_cores: float = 2.0  # CPU bandwidth (cgroup quota); with the wall limit it bounds CPU time
    status_bytes: int = 8 << 20  # largest harness status read back


# ---------------------------------------------------------------- cgroups
CGROUP_ROOT = Path(os.environ.get("SCHEDCAST_CGROUP_ROOT", "/sys/fs/cgroup"))
CGROUP_NAME = "schedcast"


@dataclass(frozen=True)
class CgroupSupport:
    version: str  # "v1" | "v2" | "" (none)
    dirs: tuple[Path, ...]  # schedcast's parent cgroup per controller (v1: memory, pids, cpu; v2: one)
    note: str = ""


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@functools.cache
def probe_cgroups() -> CgroupSupport:
    """Which cgroup hierarchy this machine gives schedcast (probed once)."""
    if os.geteuid() != 0 and not os.environ.get("SCHEDCAST_CGROUP_ROOT"):
        return CgroupSupport("", (), "not root: no cgroup limits (memory incl. shared memory, processes, CPU)")
    v1 = [CGROUP_ROOT / c for c in ("memory", "pids", "cpu")]
    if all((d / "cgroup.procs").is_file() for d in v1) and all(_writable(d) for d in v1):
        dirs = tuple(d / CGROUP_NAME for d in v1)
        try:
            for d in dirs:
                d.mkdir(exist_ok=True)
            return CgroupSupport("v1", dirs)
        except OSError as exc:
            return CgroupSupport("", (), f"cgroup v1 not usable: {exc}")
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if controllers.is_file():
        have = set(controllers.read_text().split())
        if {"memory", "pids", "cpu"} <= have and _writable(CGROUP_ROOT):
            parent = CGROUP_ROOT / CGROUP_NAME
            try:
                parent.mkdir(exist_ok=True)
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                return CgroupSupport("v2", (parent,))
            except OSError as exc:
                return CgroupSupport("", (), f"cgroup v2 not usable: {exc}")
    return CgroupSupport("", (), "no cgroup memory/pids/cpu controllers mounted: no limit on shared memory, processes per run or CPU bandwidth")


class RunCgroup:
    """One run's cgroup: created with its limits, joined by the child before exec,
    emptied (every process killed) and removed after the run."""

    def __init__(self, support: CgroupSupport, name: str, memory: int, limits: Limits) -> None:
        self.support = support
        self.dirs = [d / name for d in support.dirs]
        for d in self.dirs:
            d.mkdir()
        try:
            if support.version == "v1":
                mem, pids, cpu = self.dirs
                (mem / "memory.limit_in_bytes").write_text(str(memory))
                if (mem / "memory.memsw.limit_in_bytes").exists():
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(memory))  # no swap beyond the limit
                (pids / "pids.max").write_text(str(limits.processes))
                (cpu / "cpu.cfs_period_us").write_text("100000")
                (cpu / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpu_cores * 100000))))
            else:
                [d] = self.dirs
                (d / "memory.max").write_text(str(memory))
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(limits.processes))
                (d / "cpu.max").write_text(f"{max(1000, int(limits.cpu_cores * 100000))} 100000")
        except OSError:
            self.remove()
            raise
        self.procs_files = [str(d / "cgroup.procs") for d in self.dirs]

    def join(self) -> None:
        """Move the calling process into this cgroup (runs in the child, before exec)."""
        me = str(os.getpid()).encode()
        for path in self.procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(found)

    def oom_killed(self) -> bool:
        """The kernel killed a process of this run for memory (a fact the program cannot forge)."""
        d = self.dirs[0]
        try:
            if self.support.version == "v1":
                for line in (d / "memory.oom_control").read_text().splitlines():
                    if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                        return True
                return False
            for line in (d / "memory.events").read_text().splitlines():
                if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def kill_all(self) -> None:
        if self.support.version == "v2" and (self.dirs[0] / "cgroup.kill").exists():
            try:
                (self.dirs[0] / "cgroup.kill").write_text("1")
            except OSError:
                pass
        for _ in range(200):
            left = self.pids()
            if not left:
                return
            for pid in left:
                _kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last processes are still being reaped


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str) -> int | None:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def reap_stale() -> list[str]:
    """Kill and remove what collections that died (kill -9) left behind: their
    cgroups (with any process still in them), run directories and staged binaries.
    Returns what was removed."""
    removed: list[str] = []
    support = probe_cgroups()
    for parent in support.dirs:
        if not parent.is_dir():
            continue
        for d in parent.iterdir():
            owner = _owner_pid(d.name)
            if d.is_dir() and owner is not None and not _pid_alive(owner):
                try:
                    for pid in (d / "cgroup.procs").read_text().split():
                        _kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
                cg = RunCgroup.__new__(RunCgroup)
                cg.support, cg.dirs = support, [d]
                cg.kill_all()
                cg.remove()
                removed.append(str(d))
    root = _sandbox_root()
    for sub in ("runs", "bin"):
        base = root / sub
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            owner = _owner_pid(entry.name)
            if owner is None or not _pid_alive(owner):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(str(entry))
    return removed


# ---------------------------------------------------------------- isolation
@dataclass(frozen=True)
class Isolation:
    """What containment this machine allows, probed once."""

    network_namespace: bool
    pid_namespace: bool
    drop_to_nobody: bool
    user_namespace: bool
    notes: tuple[str, ...]
    mount_namespace: bool = False  # bubblewrap: private mounts, own /proc, tmpfs /tmp and /dev/shm
    bwrap: str = ""  # path of bubblewrap, "" when not usable
    cgroup: str = ""  # "v1" | "v2" | ""
    warnings: tuple[str, ...] = field(default=())  # what is weaker than the full sandbox

    @property
    def summary(self) -> str:
        """Recorded with every run: which containment applied."""
        parts = ["bwrap" if self.bwrap else ("unshare" if self.pid_namespace or self.network_namespace else "rlimits")]
        parts.append(f"cgroup-{self.cgroup}" if self.cgroup else "no-cgroup")
        parts.append("nobody" if self.drop_to_nobody else "same-user")
        return "+".join(parts)

    def prefix(self) -> list[str]:
        """The fallback command prefix (without bubblewrap): unshare + setpriv."""
        cmd: list[str] = []
        if self.network_namespace or self.pid_namespace:
            cmd = ["unshare"]
            if self.user_namespace:
                cmd.append("--user")
            if self.network_namespace:
                cmd.append("--net")
            if self.pid_namespace:
                cmd += ["--pid", "--fork", "--kill-child", "--mount-proc"] if os.geteuid() == 0 else ["--pid", "--fork", "--kill-child"]
            cmd.append("--")
        if self.drop_to_nobody:
            cmd += ["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_GID}", "--clear-groups", "--no-new-privs", "--"]
        return cmd


def _works(cmd: list[str], preexec: Callable[[], None] | None = None) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=10, preexec_fn=preexec).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _drop_privileges() -> None:
    os.setgroups([])
    os.setgid(NOBODY_GID)
    os.setuid(NOBODY_UID)


def _system_binds() -> list[str]:
    """Read-only views of the system directories a program (or the compiler) needs:
    /usr, and /bin, /lib, /lib64, /sbin as links or read-only binds."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    return args


@functools.cache
def probe_isolation() -> Isolation:
    notes: list[str] = []
    warnings: list[str] = []
    is_root = os.geteuid() == 0
    cg = probe_cgroups()
    if not cg.version:
        warnings.append(cg.note)
    drop = is_root
    bwrap = shutil.which("bwrap") or ""
    if bwrap:
        base = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--"]
        if not _works(base, _drop_privileges if is_root else None):
            warnings.append("bubblewrap is installed but cannot create namespaces here (user namespaces disabled?): falling back to unshare")
            bwrap = ""
    else:
        warnings.append("bubblewrap (bwrap) not found: no private mounts, /proc, /tmp or /dev/shm per run. Fix: apt-get install bubblewrap")
    if bwrap:
        if not is_root:
            notes.append("not root: programs run as the current user inside their namespaces")
        return Isolation(True, True, drop, True, tuple(notes), True, bwrap, cg.version, tuple(warnings))

    # Fallback: util-linux.
    unshare = shutil.which("unshare")
    setpriv = shutil.which("setpriv")
    drop = bool(is_root and setpriv and _works(["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_GID}", "--clear-groups", "--"]))
    if is_root and not drop:
        warnings.append("running as root but cannot switch to 'nobody' (setpriv from util-linux missing?): programs run as root")
    if not is_root:
        notes.append("not root: programs run as the current user")
    net = pid = userns = False
    if unshare is None:
        warnings.append("'unshare' (util-linux) not found: no network or PID namespace; install util-linux")
    else:
        base = ["unshare"] if is_root else ["unshare", "--user"]
        pid_flags = ["--pid", "--fork", "--kill-child"] + (["--mount-proc"] if is_root else [])
        if _works(base + ["--net", *pid_flags, "--"]):
            net = pid = True
            userns = not is_root
        elif _works(base + ["--net", "--"]):
            net = True
            userns = not is_root
            warnings.append("PID namespaces not allowed: stray processes are killed by process group only")
        else:
            warnings.append("namespaces not allowed here (unshare failed): programs have network access")
    return Isolation(net, pid, drop, userns, tuple(notes + warnings), False, "", cg.version, tuple(warnings))


def doctor_rows() -> list[tuple[str, bool, str]]:
    """(check, ok, detail / fix) lines for `schedcast doctor`."""
    iso = probe_isolation()
    cg = probe_cgroups()
    rows = [
        ("sandbox", bool(iso.bwrap), f"bubblewrap {iso.bwrap}: private mounts, /proc, tmpfs /tmp and /dev/shm per run" if iso.bwrap else "bubblewrap missing or unusable: weaker sandbox. Fix: apt-get install bubblewrap"),
        ("network isolation", iso.network_namespace, "network namespace per run" if iso.network_namespace else "programs can reach the network"),
        ("process isolation", iso.pid_namespace, "PID namespace per run (children die with the program)" if iso.pid_namespace else "process group kill only"),
        ("filesystem isolation", iso.mount_namespace, "only /usr (read-only) and the run's own tmpfs are visible" if iso.mount_namespace else "the host filesystem is visible (read-only to 'nobody' except world-writable places)"),
        ("unprivileged user", iso.drop_to_nobody, "runs as 'nobody'" if iso.drop_to_nobody else "runs as the current user"),
        ("cgroup limits", bool(cg.version), f"cgroup {cg.version}: memory (incl. shared memory), processes, CPU per run" if cg.version else cg.note),
    ]
    for w in iso.warnings:
        if not any(w == r[2] for r in rows):
            rows.append(("warning", False, w))
    return rows


# ---------------------------------------------------------------- staging
def _sandbox_root() -> Path:
    # Must be reachable by `nobody` (staged binaries): not under /root (mode 0700).
    base = Path(os.environ.get("SCHEDCAST_SANDBOX_DIR", Path(tempfile.gettempdir()) / f"schedcast-sandbox-{os.geteuid()}"))
    base.mkdir(parents=True, exist_ok=True)
    if base.is_symlink() or base.stat().st_uid != os.geteuid():
        raise OSError(errno.EPERM, "sandbox directory is not owned by this user", str(base))
    base.chmod(0o711)
    return base


def _staging_dir() -> Path:
    """This process's directory of staged binaries, removed when the collection ends."""
    bins = _sandbox_root() / "bin"
    bins.mkdir(exist_ok=True)
    bins.chmod(0o711)
    mine = bins / str(os.getpid())
    mine.mkdir(exist_ok=True)
    mine.chmod(0o711)
    return mine


def stage_binary(binary: Path, key: str) -> Path:
    """A copy (or hard link) of the binary that the sandboxed user can execute."""
    staged = _staging_dir() / key
    if not staged.exists():
        tmp = staged.parent / f".{key}.{uuid.uuid4().hex}"
        try:
            os.link(binary, tmp)
        except OSError:
            shutil.copyfile(binary, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, staged)
    return staged


def unstage_all() -> None:
    """Remove this process's staged binaries, and what dead collections left behind."""
    shutil.rmtree(_sandbox_root() / "bin" / str(os.getpid()), ignore_errors=True)
    reap_stale()


# ---------------------------------------------------------------- one run
@dataclass
class SandboxResult:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    duration_s: float
    timed_out: bool  # the wall-clock limit was reached
    killed: bool  # SIGKILL was needed after SIGTERM
    workdir: Path  # the run's private directory on the host (root only)
    stdout_path: Path
    stderr_path: Path
    trace_path: Path = Path()
    status_path: Path = Path()
    token: str = ""  # the harness signs its status with it
    oom_killed: bool = False  # the kernel killed a process of the run for memory (cgroup)
    sandbox: str = ""  # Isolation.summary


def _preexec(limits: Limits, race: bool, cgroup: RunCgroup | None, drop: bool, parent: int) -> Callable[[], None]:
    memory = limits.memory_bytes * (limits.race_memory_factor if race else 1)

    def apply() -> None:
        if cgroup is not None:
            cgroup.join()
        # Go ignores SIGXCPU at the soft limit; the hard limit (SIGKILL) follows 1 s later.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        if cgroup is None:  # per-user, so shared by concurrent runs: only without a pids cgroup
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop:
            _drop_privileges()
        # After the uid switch (which clears it): if schedcast dies, even by kill -9,
        # bwrap gets SIGKILL and its program dies with it (--die-with-parent).
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return apply


def _open_new(dir_fd: int, name: str) -> int:
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)


def run_sandboxed(
    binary: Path,
    args: list[str],
    env: dict[str, str],
    limits: Limits,
    race: bool,
    isolation: Isolation | None = None,
) -> SandboxResult:
    """Run `binary` once, contained. The caller reads the outputs back with
    `read_run_file` and then calls `cleanup`.

    The program gets its trace and status as descriptors (environment
    SCHEDCAST_TRACE_FD, SCHEDCAST_STATUS_FD) and a one-time token on a pipe
    (SCHEDCAST_TOKEN_FD) that its harness puts in the status."""
    iso = isolation or probe_isolation()
    root = _sandbox_root()
    runs = root / "runs"
    runs.mkdir(exist_ok=True)
    runs.chmod(0o711)
    name = f"{os.getpid()}-{uuid.uuid4().hex}"
    rundir = runs / name  # root only: the program never sees it
    rundir.mkdir(mode=0o700)
    dir_fd = os.open(rundir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    fds: list[int] = []
    token = secrets.token_hex(16)
    cgroup: RunCgroup | None = None
    info_r = info_w = -1
    try:
        out_fd, err_fd, trace_fd, status_fd = (_open_new(dir_fd, n) for n in ("stdout", "stderr", "trace", "status"))
        fds += [out_fd, err_fd, trace_fd, status_fd]
        token_r, token_w = os.pipe2(os.O_CLOEXEC)
        fds.append(token_r)
        os.write(token_w, token.encode())
        os.close(token_w)
        for fd in (trace_fd, status_fd, token_r):
            os.set_inheritable(fd, True)
        memory = limits.memory_bytes * (limits.race_memory_factor if race else 1)
        if iso.cgroup:
            cgroup = RunCgroup(probe_cgroups(), name, memory, limits)

        run_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **env}
        run_env.update(
            SCHEDCAST_TRACE_FD=str(trace_fd), SCHEDCAST_STATUS_FD=str(status_fd), SCHEDCAST_TOKEN_FD=str(token_r)
        )
        pass_fds = [trace_fd, status_fd, token_r]
        if iso.bwrap:
            info_r, info_w = os.pipe2(os.O_CLOEXEC)
            pass_fds.append(info_w)
            workdir = Path(SANDBOX_WORKDIR)
            size = str(limits.tmpfs_bytes)
            cmd = [
                iso.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1",
                "--info-fd", str(info_w),
                *_system_binds(),
                "--proc", "/proc", "--dev", "/dev",
                "--size", size, "--tmpfs", "/tmp",
                "--size", size, "--tmpfs", "/dev/shm",
                "--size", size, "--perms", "0700", "--tmpfs", SANDBOX_WORKDIR,
                "--ro-bind", str(binary), SANDBOX_BINARY,
                "--remount-ro", "/",
                "--chdir", SANDBOX_WORKDIR,
                "--", SANDBOX_BINARY, *args,
            ]  # fmt: skip
            cwd = "/"
        else:
            workdir = rundir / "work"
            workdir.mkdir(mode=0o700)
            if iso.drop_to_nobody:
                os.chown(workdir, NOBODY_UID, NOBODY_GID)
            cmd = iso.prefix() + [str(binary), *args]
            cwd = str(workdir)
        run_env.update(HOME=str(workdir), TMPDIR="/tmp" if iso.bwrap else str(workdir))

        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
            pass_fds=pass_fds,
            start_new_session=True,  # its own process group, killed as a whole
            preexec_fn=_preexec(limits, race, cgroup, iso.drop_to_nobody, os.getpid()),
        )
        if info_w >= 0:
            os.close(info_w)
            info_w = -1
        timed_out = killed = False
        try:
            proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            # SIGTERM to the program itself (the harness flushes the trace), not to
            # bwrap, whose death would SIGKILL the program at once.
            target = _bwrap_child(info_r) if iso.bwrap else None
            if target is not None:
                _kill(target, signal.SIGTERM)
            else:
                _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=limits.term_grace_seconds)
            except subprocess.TimeoutExpired:
                killed = True
                _killpg(proc.pid, signal.SIGKILL)
                if cgroup is not None:
                    cgroup.kill_all()
                proc.wait()
        duration = time.monotonic() - start
        # Anything the program left behind dies now.
        _killpg(proc.pid, signal.SIGKILL)
        oom = False
        if cgroup is not None:
            cgroup.kill_all()
            oom = cgroup.oom_killed()
    finally:
        for fd in fds:
            os.close(fd)
        for fd in (info_r, info_w):
            if fd >= 0:
                os.close(fd)
        os.close(dir_fd)
        if cgroup is not None:
            cgroup.remove()
    code = proc.returncode
    sig: int | None = -code if code < 0 else None
    exit_code: int | None = code if code >= 0 else None
    if iso.bwrap and exit_code is not None and exit_code > 128 and exit_code - 128 < signal.NSIG:
        # bwrap reports a program killed by signal N as exit status 128 + N.
        sig, exit_code = exit_code - 128, None
    return SandboxResult(
        exit_code=exit_code,
        signal=sig,
        duration_s=duration,
        timed_out=timed_out,
        killed=killed,
        workdir=rundir,
        stdout_path=rundir / "stdout",
        stderr_path=rundir / "stderr",
        trace_path=rundir / "trace",
        status_path=rundir / "status",
        token=token,
        oom_killed=oom,
        sandbox=iso.summary,
    )


def _bwrap_child(info_fd: int) -> int | None:
    """The host PID of the program, from bwrap's --info-fd JSON."""
    if info_fd < 0:
        return None
    data = b""
    while len(data) < 4096:
        ready, _, _ = select.select([info_fd], [], [], 0.5)
        if not ready:
            break
        chunk = os.read(info_fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        pid = json.loads(data.decode()).get("child-pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def cleanup(result: SandboxResult) -> None:
    shutil.rmtree(result.workdir, ignore_errors=True)  # fd-based: never follows a link out


# ---------------------------------------------------------------- reading back
class UnsafeFile(Exception):
    """A file read back from a run is not a regular file in the run's directory."""


@dataclass
class ReadBack:
    data: bytes  # at most the cap
    size: int  # the file's full size
    truncated: bool  # size > cap


def open_run_file(path: Path) -> int | None:
    """A file descriptor on a file a run produced, opened without following links
    (neither the file nor its directory) and refused (UnsafeFile) unless it is a
    regular file; None when it does not exist. The caller closes it."""
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeFile(f"{path.parent}: {exc.strerror}") from exc
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{path.name} is a symbolic link") from exc
        raise UnsafeFile(f"{path.name}: {exc.strerror}") from exc
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{path.name} is not a regular file")
    return fd


def read_run_file(path: Path, cap: int) -> ReadBack | None:
    """Read a file a run produced (see open_run_file), at most `cap` bytes.
    None when it does not exist."""
    fd = open_run_file(path)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        chunks: list[bytes] = []
        want = cap
        while want > 0:
            chunk = os.read(fd, min(want, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
        data = b"".join(chunks)
        size = max(st.st_size, len(data))
        return ReadBack(data, size, size > cap)
    finally:
        os.close(fd)


def read_capped(path: Path, keep: int) -> tuple[str, int]:
    """Head and tail of a run's output file (at most `keep` bytes in all) and its
    full size; never follows a link, never reads more than `keep` bytes."""
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return "", 0
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        os.close(dir_fd)
        return "", 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "", 0
        size = st.st_size
        if size <= keep:
            data = os.pread(fd, keep, 0)
        else:
            head = os.pread(fd, keep // 2, 0)
            tail = os.pread(fd, keep // 2, size - keep // 2)
            data = head + f"\n[... {size - len(head) - len(tail)} bytes cut by schedcast ...]\n".encode() + tail
    finally:
        os.close(fd)
        os.close(dir_fd)
    return data.decode("utf-8", errors="replace"), size


# ---------------------------------------------------------------- builds
@dataclass(frozen=True)
class BuildLimits:
    wall_seconds: float = 600.0
    memory_bytes: int = 3 << 30  # the compiler and linker together (cgroup; RLIMIT_DATA without one)
    processes: int = 1024
    cpu_cores: float = 2.0
    file_bytes: int = 1 << 30  # largest file the toolchain writes


def run_build_sandboxed(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    writable: list[Path],
    readable: list[Path],
    limits: BuildLimits = BuildLimits(),
) -> subprocess.CompletedProcess[str]:
    """Run the Go toolchain on untrusted sources, contained: with bubblewrap, new
    namespaces (no network), no capabilities, only /usr, the `readable` paths
    (GOROOT) and the `writable` ones (build cache, build directory) visible, a
    private /tmp; a cgroup caps memory, processes and CPU. Raises
    subprocess.TimeoutExpired after the wall-clock limit (everything killed)."""
    iso = probe_isolation()
    support = probe_cgroups()
    cgroup = RunCgroup(support, f"{os.getpid()}-build-{uuid.uuid4().hex}", limits.memory_bytes, Limits(processes=limits.processes, cpu_cores=limits.cpu_cores)) if support.version else None
    if iso.bwrap:
        binds: list[str] = []
        for p in readable:
            binds += ["--ro-bind", str(p), str(p)]
        for p in writable:
            binds += ["--bind", str(p), str(p)]
        full = [
            iso.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            *_system_binds(), "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", *binds, "--chdir", str(cwd), "--", *cmd,
        ]  # fmt: skip
    else:
        full = cmd
    memory = limits.memory_bytes

    def pre() -> None:
        if cgroup is not None:
            cgroup.join()
        else:
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    try:
        proc = subprocess.Popen(
            full, cwd=cwd, env={**env, "TMPDIR": "/tmp"}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True, preexec_fn=pre,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            if cgroup is not None:
                cgroup.kill_all()
            proc.communicate()
            raise
        oom = cgroup.oom_killed() if cgroup is not None else False
        if oom:
            err += f"\nschedcast: the build ran out of memory (limit {limits.memory_bytes >> 20} MiB) and was killed\n"
        return subprocess.CompletedProcess(full, proc.returncode, out, err)
    finally:
        if cgroup is not None:
            cgroup.kill_all()
            cgroup.remove()
