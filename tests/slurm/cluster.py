"""Start and stop a throwaway single-node SLURM cluster on the loopback interface.

The test suite uses it to run the workflow through ``snakemake-executor-plugin-slurm``
against a real ``slurmctld``/``slurmd`` pair. Everything the cluster writes (munge key and
socket, ``slurm.conf``, state and spool directories, pid files, logs) lives in one fresh
directory, and the daemons listen on ports chosen free at start-up, so a cluster left over
from an earlier run (or started by a concurrent test session) cannot interfere. Client
commands find the cluster through ``SLURM_CONF`` and through wrappers first on ``PATH``
that set it (see ``SlurmCluster._write_wrappers``); the cluster writes nothing under
``/etc``. Only installing the Debian packages, when they are missing, touches the system.

The daemons run in the foreground as children of this process (``munged --foreground``,
``slurmctld -D``, ``slurmd -D``), so their pids are known without pid-file races, and
:meth:`SlurmCluster.stop` signals exactly those pids. As a second line of defence each
daemon gets ``PR_SET_PDEATHSIG``: if the Python process that started it dies without
cleaning up (``SIGKILL``, crash), the kernel sends the daemon ``SIGTERM``.

Facts this relies on (Debian 12, slurm 22.05, munge 0.5.15; see the project's notes):
no slurmdbd, so ``sacct`` fails and ``squeue`` must serve job status, which needs a large
``MinJobAge``; slurm binds to the address the host name resolves to, so the host name must
resolve to a loopback address and ``NoCtldInAddrAny,NoInAddrAny`` keep it from listening
on all interfaces.

Command line (for manual use and for CI scripts)::

    python tests/slurm/cluster.py check          # start, run `srun true`, stop, print timings
    python tests/slurm/cluster.py run -- CMD...  # start, run CMD against the cluster, stop

``--keep`` (before the sub-command) keeps the cluster's directory, logs included; it is
kept anyway when something failed.
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Debian packages that provide the daemons and client commands.
DEBIAN_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
#: Executables that must exist once the packages are installed.
REQUIRED_EXECUTABLES = (
    "munged",
    "slurmctld",
    "slurmd",
    "sinfo",
    "srun",
    "sbatch",
    "squeue",
    "scancel",
    "scontrol",
)
#: Client commands given a wrapper that pins SLURM_CONF (see SlurmCluster._write_wrappers).
CLIENT_COMMANDS = (
    "srun", "sbatch", "salloc", "squeue", "scancel", "sinfo", "scontrol", "sacct",
    "sacctmgr", "sshare", "sstat",
)
#: Directories searched for the executables (pytest may run with a PATH lacking sbin).
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin"]
)
#: Seconds the squeue-based status query in snakemake can see a finished job. Must be at
#: least 3 x slurm-init-seconds-before-status-checks, or the plugin falls back to sacct.
MIN_JOB_AGE = 600
PARTITION = "debug"


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be provided on this machine (not root, no apt-get, not loopback)."""


class SlurmStartError(RuntimeError):
    """The daemons were started but the cluster did not become usable."""


def which(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def missing_executables() -> list[str]:
    return [name for name in REQUIRED_EXECUTABLES if which(name) is None]


def ensure_packages(timeout: float = 600) -> bool:
    """Install the Debian packages if an executable is missing; return True if it installed.

    Package maintainer scripts must not start services (there is no systemd here and we
    start the daemons ourselves), so a ``policy-rc.d`` that forbids it is put in place for
    the duration of the install unless one already exists.
    """
    if not missing_executables():
        return False
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            f"SLURM executables {missing_executables()} are missing and installing "
            "them needs root"
        )
    apt_get = which("apt-get")
    if apt_get is None:
        raise SlurmUnavailable(
            f"SLURM executables {missing_executables()} are missing and apt-get is "
            "not available to install them"
        )
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\n# no service start during package install\nexit 101\n")
        policy.chmod(0o755)
        created_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=120"]
    try:
        for argv in (
            [apt_get, *lock, "-q", "update"],
            [apt_get, *lock, "-q", "-y", "--no-install-recommends", "install",
             *DEBIAN_PACKAGES],
        ):
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=timeout
            )
            if done.returncode != 0:
                raise SlurmStartError(
                    f"{' '.join(argv)} failed with exit code {done.returncode}:\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                )
    finally:
        if created_policy:
            policy.unlink(missing_ok=True)
    still_missing = missing_executables()
    if still_missing:
        raise SlurmStartError(
            f"installed {DEBIAN_PACKAGES} but {still_missing} are still missing"
        )
    return True


def loopback_address(hostname: str | None = None) -> str:
    """Return the address ``hostname`` resolves to, refusing anything but loopback."""
    hostname = hostname or socket.gethostname()
    done = subprocess.run(
        ["getent", "hosts", hostname], capture_output=True, text=True, timeout=30
    )
    fields = done.stdout.split()
    if done.returncode != 0 or not fields:
        raise SlurmUnavailable(f"host name {hostname!r} does not resolve (getent hosts)")
    address = fields[0]
    if not ipaddress.ip_address(address).is_loopback:
        raise SlurmUnavailable(
            f"host name {hostname!r} resolves to {address}, not a loopback address; "
            "refusing to start SLURM, which would listen on that address"
        )
    return address


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _total_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmStartError("MemTotal not found in /proc/meminfo")


def _die_with_parent() -> None:
    """``preexec_fn``: have the kernel send SIGTERM if the starting process dies."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def slurm_conf_text(root: Path, hostname: str, address: str, *, cpus: int,
                    memory_mb: int, ctld_port: int, slurmd_port: int) -> str:
    return textwrap.dedent(f"""\
        # Throwaway single-node cluster for the bayes-sgd tests (tests/slurm/cluster.py).
        ClusterName=bayessgdtest
        SlurmctldHost={hostname}({address})
        SlurmctldPort={ctld_port}
        SlurmdPort={slurmd_port}
        SlurmUser=root
        SlurmdUser=root
        AuthType=auth/munge
        CredType=cred/munge
        AuthInfo=socket={root / "munge" / "munge.socket"}
        CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
        StateSaveLocation={root / "state"}
        SlurmdSpoolDir={root / "spool"}
        SlurmctldPidFile={root / "run" / "slurmctld.pid"}
        SlurmdPidFile={root / "run" / "slurmd.pid"}
        SlurmctldLogFile={root / "log" / "slurmctld.log"}
        SlurmdLogFile={root / "log" / "slurmd.log"}
        SlurmctldDebug=info
        SlurmdDebug=info
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        MpiDefault=none
        SwitchType=switch/none
        AccountingStorageType=accounting_storage/none
        JobAcctGatherType=jobacct_gather/none
        JobCompType=jobcomp/none
        SchedulerType=sched/backfill
        SelectType=select/cons_tres
        SelectTypeParameters=CR_Core
        SlurmdParameters=config_overrides
        ReturnToService=2
        MinJobAge={MIN_JOB_AGE}
        MailProg=/bin/true
        NodeName={hostname} NodeAddr={address} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
        PartitionName={PARTITION} Nodes={hostname} Default=YES MaxTime=INFINITE State=UP
        """)


@dataclass
class SlurmCluster:
    """A single-node cluster rooted in ``root``; use as a context manager or start/stop."""

    root: Path
    #: CPUs the node offers; profiles/slurm-ci caps jobs and groups at `cores: 2` to fit.
    #: With SlurmdParameters=config_overrides slurmd takes this value as given, so it also
    #: works on a machine with fewer cores (oversubscribed).
    cpus: int = 2
    startup_timeout: float = 60.0
    hostname: str = field(default_factory=socket.gethostname)
    address: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: Seconds taken by each start-up phase, for reporting.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def bin(self) -> Path:
        """Directory of client-command wrappers; first on ``PATH`` in :attr:`env`."""
        return self.root / "bin"

    @property
    def env(self) -> dict[str, str]:
        """Environment for client commands (sbatch, squeue, snakemake) and jobs."""
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        env["PATH"] = os.pathsep.join([str(self.bin), _SEARCH_PATH])
        for name in list(env):  # a surrounding job's variables would confuse sbatch/srun
            if name.startswith("SLURM_") and name != "SLURM_CONF":
                del env[name]
        return env

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    # -- start ---------------------------------------------------------------------

    def start(self) -> SlurmCluster:
        t0 = time.monotonic()
        if os.geteuid() != 0:
            raise SlurmUnavailable("starting slurmd/munged needs root")
        self.address = loopback_address(self.hostname)
        self.timings["install"] = time.monotonic() - t0 if ensure_packages() else 0.0
        try:
            self._write_files()
            self._start_munged()
            t1 = time.monotonic()
            self._spawn("slurmctld", [which("slurmctld"), "-D", "-f", str(self.conf)])
            self._wait_for(self._controller_answers, "slurmctld to answer (scontrol ping)")
            self._spawn("slurmd", [which("slurmd"), "-D", "-f", str(self.conf)])
            self._wait_for(self._node_idle, f"node {self.hostname} to be idle (sinfo)")
            self.timings["daemons"] = time.monotonic() - t1
            t2 = time.monotonic()
            self._srun_true()
            self.timings["srun_true"] = time.monotonic() - t2
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def _write_files(self) -> None:
        for sub in ("munge", "state", "spool", "run", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        memory_mb = int(_total_memory_mb() * 0.9)
        self.conf.write_text(slurm_conf_text(
            self.root, self.hostname, self.address, cpus=self.cpus, memory_mb=memory_mb,
            ctld_port=free_port(self.address), slurmd_port=free_port(self.address),
        ))
        self._write_wrappers()

    def _write_wrappers(self) -> None:
        """Put wrappers that set ``SLURM_CONF`` in front of the client commands.

        Client commands find this cluster through ``SLURM_CONF``, but
        snakemake-executor-plugin-slurm-jobstep (0.6.1) removes every ``SLURM_*``
        variable except the job's identity before it calls ``srun`` inside a job, and
        ``srun`` then looks for ``/etc/slurm/slurm.conf``, then DNS SRV records, and
        fails ("Could not establish a configuration source"). ``PATH`` survives, so
        wrappers first on ``PATH`` that set ``SLURM_CONF`` keep every client command
        pointed at this cluster without writing under ``/etc``.
        """
        self.bin.mkdir(exist_ok=True)
        for name in CLIENT_COMMANDS:
            real = which(name)
            if real is None:
                continue
            wrapper = self.bin / name
            wrapper.write_text(
                "#!/bin/sh\n"
                f"SLURM_CONF='{self.conf}'\n"
                "export SLURM_CONF\n"
                f"exec '{real}' \"$@\"\n"
            )
            wrapper.chmod(0o755)

    def _start_munged(self) -> None:
        munge = self.root / "munge"
        self._spawn("munged", [
            which("munged"), "--foreground", "--force",
            f"--key-file={munge / 'munge.key'}",
            f"--socket={munge / 'munge.socket'}",
            f"--pid-file={self.root / 'run' / 'munged.pid'}",
            f"--seed-file={munge / 'munge.seed'}",
            f"--log-file={self.root / 'log' / 'munged.log'}",
        ])
        self._wait_for(lambda: (munge / "munge.socket").exists(), "munged's socket")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.stdout", "ab")
        try:
            self.processes[name] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True, preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def _run(self, argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def _controller_answers(self) -> bool:
        done = self._run([which("scontrol"), "ping"])
        return done.returncode == 0 and "UP" in done.stdout

    def _node_idle(self) -> bool:
        done = self._run([which("sinfo"), "--noheader", "--Node", "--format=%t"])
        return done.returncode == 0 and done.stdout.split() == ["idle"]

    def _srun_true(self) -> None:
        try:
            done = self._run(
                [which("srun"), "--nodes=1", "--ntasks=1", "--time=1", "true"], timeout=60
            )
        except subprocess.TimeoutExpired as err:
            raise SlurmStartError(f"`srun true` did not finish in 60 s\n{self.logs()}") from err
        if done.returncode != 0:
            raise SlurmStartError(
                f"`srun true` failed ({done.returncode}): {done.stderr}\n{self.logs()}"
            )

    def _wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
            if dead:
                raise SlurmStartError(
                    f"while waiting for {what}, daemon(s) exited: {dead}\n{self.logs()}"
                )
            try:
                if ready():
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise SlurmStartError(
                    f"timed out after {self.startup_timeout:.0f} s waiting for {what}\n"
                    f"{self.logs()}"
                )
            time.sleep(0.2)

    # -- stop ----------------------------------------------------------------------

    def stop(self, grace: float = 10.0) -> None:
        """Cancel the cluster's jobs, then stop exactly the daemons this object started.

        Safe to call more than once and after a failed start.
        """
        if not self.processes:
            return
        alive = {n: p for n, p in self.processes.items() if p.poll() is None}
        if "slurmctld" in alive and which("scancel"):
            # Jobs left running would otherwise keep slurmstepd processes around.
            try:
                self._run([which("scancel"), "--full", f"--partition={PARTITION}"], 10)
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline:
                    done = self._run([which("squeue"), "--noheader", "--states=all",
                                      "--format=%T"], 10)
                    if done.returncode != 0 or not (
                        {"RUNNING", "COMPLETING", "PENDING", "CONFIGURING"}
                        & set(done.stdout.split())
                    ):
                        break
                    time.sleep(0.5)
            except (subprocess.TimeoutExpired, OSError):
                pass
        # Reverse start order: slurmd, slurmctld, munged.
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=grace)
        self.processes.clear()

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- diagnostics ---------------------------------------------------------------

    def logs(self, tail: int = 40) -> str:
        """The last lines of every daemon log, for error messages."""
        parts = [f"SLURM test cluster in {self.root}"]
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {path.name} (last {len(lines)} lines) ---")
            parts.extend(lines)
        return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="start the cluster, run `srun true`, stop it")
    run = sub.add_parser("run", help="run a command while the cluster is up")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    parser.add_argument("--keep", action="store_true", help="keep the cluster directory")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bayes-sgd-slurm-"))
    status = 1
    cluster = SlurmCluster(root)
    # SIGTERM/SIGINT from a CI runner: turn it into an exception so `finally` stops the
    # daemons.
    def _raise(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _raise)
    try:
        cluster.start()
        print(f"SLURM up in {root}: pids {cluster.pids}, timings (s) "
              + ", ".join(f"{k}={v:.1f}" for k, v in cluster.timings.items()),
              file=sys.stderr)
        if args.command == "check":
            status = 0
        else:
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not cmd:
                parser.error("run needs a command after --")
            status = subprocess.run(cmd, env=cluster.env).returncode
    except (SlurmUnavailable, SlurmStartError) as err:
        print(f"error: {err}", file=sys.stderr)
    finally:
        cluster.stop()
        if status == 0 and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"cluster directory kept: {root}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
