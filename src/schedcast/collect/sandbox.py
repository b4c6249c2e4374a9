"""Run untrusted programs contained.

Each run gets its own empty working directory and resource limits (CPU time,
memory, processes, file size, open files). Where the machine allows it, the program
runs in new network and PID namespaces (no network; every process it starts dies
with it) and, when schedcast runs as root, as the unprivileged user `nobody`, so it
can write nowhere but its working directory and world-writable places. Its whole
process group is killed on timeout: first SIGTERM (the harness flushes the trace),
then SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

NOBODY_UID = 65534
NOBODY_GID = 65534
PR_SET_PDEATHSIG = 1
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux/glibc: no parent-death signal
    _libc = None


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 120
    memory_bytes: int = 2 << 30  # address space the program may write (RLIMIT_DATA)
    race_memory_factor: int = 4  # race builds: shadow memory counts too (measured: heap ~= memory_bytes)
    processes: int = 512  # threads count as processes for RLIMIT_NPROC
    file_bytes: int = 256 << 20  # largest file (trace, stdout, stderr)
    open_files: int = 256
    output_keep_bytes: int = 64 << 10  # stdout/stderr kept in the run record (head+tail)
    term_grace_seconds: float = 2.0  # SIGTERM -> SIGKILL


@dataclass(frozen=True)
class Isolation:
    """What containment this machine allows, probed once."""

    network_namespace: bool
    pid_namespace: bool
    drop_to_nobody: bool
    user_namespace: bool
    notes: tuple[str, ...]

    def prefix(self) -> list[str]:
        cmd: list[str] = []
        if self.network_namespace or self.pid_namespace:
            cmd = ["unshare"]
            if self.user_namespace:
                cmd.append("--user")
            if self.network_namespace:
                cmd.append("--net")
            if self.pid_namespace:
                cmd += ["--pid", "--fork", "--kill-child"]
            cmd.append("--")
        if self.drop_to_nobody:
            cmd += [
                "setpriv",
                f"--reuid={NOBODY_UID}",
                f"--regid={NOBODY_GID}",
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
        return cmd


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def probe_isolation() -> Isolation:
    notes: list[str] = []
    is_root = os.geteuid() == 0
    unshare = shutil.which("unshare")
    setpriv = shutil.which("setpriv")
    drop = bool(is_root and setpriv and _works(["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_GID}", "--clear-groups", "--"]))
    if is_root and not drop:
        notes.append("running as root but cannot switch to 'nobody' (setpriv from util-linux missing?): programs run as root")
    if not is_root:
        notes.append("not root: programs run as the current user")
    net = pid = userns = False
    if unshare is None:
        notes.append("'unshare' (util-linux) not found: no network or PID namespace; install util-linux")
    else:
        base = ["unshare"] if is_root else ["unshare", "--user"]
        if _works(base + ["--net", "--pid", "--fork", "--kill-child", "--"]):
            net = pid = True
            userns = not is_root
        elif _works(base + ["--net", "--"]):
            net = True
            userns = not is_root
            notes.append("PID namespaces not allowed: stray processes are killed by process group only")
        else:
            notes.append("namespaces not allowed here (unshare failed): programs have network access")
    return Isolation(net, pid, drop, userns, tuple(notes))


def _sandbox_root() -> Path:
    # Must be reachable by `nobody`: not under /root (mode 0700).
    base = Path(os.environ.get("SCHEDCAST_SANDBOX_DIR", Path(tempfile.gettempdir()) / f"schedcast-sandbox-{os.geteuid()}"))
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o711)
    return base


def _staging_dir() -> Path:
    """This process's directory of staged binaries. Each collecting process has its
    own, removed when it ends (`unstage_all`), so staged copies never pile up (on a
    tmpfs /tmp they would cost memory) and two collections never remove each
    other's binaries."""
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
    """Remove this process's staged binaries, and those of processes that died."""
    bins = _sandbox_root() / "bin"
    if not bins.is_dir():
        return
    for entry in bins.iterdir():
        if entry.is_file():
            entry.unlink(missing_ok=True)  # the layout before per-process directories
            continue
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        alive = pid != os.getpid()
        if alive:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                pass
        if not alive:
            shutil.rmtree(entry, ignore_errors=True)


@dataclass
class SandboxResult:
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    duration_s: float
    timed_out: bool  # the wall-clock limit was reached
    killed: bool  # SIGKILL was needed after SIGTERM
    workdir: Path
    stdout_path: Path
    stderr_path: Path


def _preexec(limits: Limits, race: bool):  # type: ignore[no-untyped-def]
    memory = limits.memory_bytes * (limits.race_memory_factor if race else 1)

    def apply() -> None:
        # If schedcast dies (even by kill -9), its runs die with it instead of
        # living on unsupervised.
        if _libc is not None:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # Go ignores SIGXCPU at the soft limit; the hard limit (SIGKILL) follows 1 s later.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_sandboxed(
    binary: Path,
    args: list[str],
    env: dict[str, str],
    limits: Limits,
    race: bool,
    isolation: Isolation | None = None,
) -> SandboxResult:
    """Run `binary` once in a fresh working directory. The caller removes `workdir`."""
    iso = isolation or probe_isolation()
    root = _sandbox_root()
    runs = root / "runs"
    runs.mkdir(exist_ok=True)
    runs.chmod(0o711)
    name = uuid.uuid4().hex
    workdir = runs / name
    workdir.mkdir(mode=0o700)
    if iso.drop_to_nobody:
        os.chown(workdir, NOBODY_UID, NOBODY_GID)
    # Output files sit beside the working directory, where the program cannot replace them.
    stdout_path = runs / f"{name}.stdout"
    stderr_path = runs / f"{name}.stderr"
    run_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        **env,
    }
    cmd = iso.prefix() + [str(binary), *args]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, killed as a whole
            preexec_fn=_preexec(limits, race),
        )
        timed_out = killed = False
        try:
            proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=limits.term_grace_seconds)
            except subprocess.TimeoutExpired:
                killed = True
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        duration = time.monotonic() - start
        # Anything the program left behind in its group dies now.
        _killpg(proc.pid, signal.SIGKILL)
    code = proc.returncode
    return SandboxResult(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        duration_s=duration,
        timed_out=timed_out,
        killed=killed,
        workdir=workdir,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
    )


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def cleanup(result: SandboxResult) -> None:
    shutil.rmtree(result.workdir, ignore_errors=True)
    for p in (result.stdout_path, result.stderr_path):
        p.unlink(missing_ok=True)


def read_capped(path: Path, keep: int) -> tuple[str, int]:
    """Head and tail of a file (at most `keep` bytes in all) and its full size."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size <= keep:
                data = f.read()
            else:
                head = f.read(keep // 2)
                f.seek(size - keep // 2)
                tail = f.read()
                data = head + f"\n[... {size - keep} bytes cut by schedcast ...]\n".encode() + tail
    except OSError:
        return "", 0
    return data.decode("utf-8", errors="replace"), size
