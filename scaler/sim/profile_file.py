"""Reading a simulator profile file (JSON or YAML) onto the defaults of ``profile``: every key
checked, every value coerced to the field's type, one-line errors."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

from scaler.sim.profile import (
    ProfileError,
    RuntimeProfile,
    SimProfile,
)

#: Profiles shipped with the simulator (YAML, each value's reason in a comment), usable by name
#: (``--sim-profile c3d-2021-capacity``).
SHIPPED = Path(__file__).resolve().with_name("profiles")


def shipped() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def resolve(path: str) -> str:
    """A file path as given, or the shipped profile of that name when no such file exists."""
    if Path(path).exists() or not path.replace("-", "").replace("_", "").isalnum():
        return path
    candidate = SHIPPED / f"{path}.yaml"
    return str(candidate) if candidate.is_file() else path


def load(
    path: str | None,
    *,
    workers: int | None = None,
    worker_cpus: int | None = None,
    worker_memory_mib: int | None = None,
) -> SimProfile:
    """Defaults, overridden by the file at ``path`` (if any), then by the explicit arguments."""
    profile = SimProfile()
    if path is not None:
        _apply_file(profile, path, seen=())
    c = profile.cluster
    for name, value in (("workers", workers), ("worker_cpus", worker_cpus),
                        ("worker_memory_mib", worker_memory_mib)):
        if value is not None:
            setattr(c, name, value)
    reserved = c.kernel_reserved_mib + c.system_reserved_memory_mib
    if worker_memory_mib is not None and worker_memory_mib <= reserved:
        # said in the option's own words: the user typed --worker-memory, not a profile key
        raise ProfileError(f"--worker-memory {worker_memory_mib} MiB leaves no memory for pods "
                           f"(the kernel and the system reservation take {reserved:,.0f} MiB)")
    _validate(profile, path or "arguments")
    return profile


def _apply_file(profile: SimProfile, path: str, seen: tuple[str, ...]) -> None:
    """A profile file onto ``profile``; ``"extends": NAME`` applies that one first."""
    real = resolve(path)
    try:
        data = _read(real)
    except ProfileError as e:
        if real == path and path not in seen and not Path(path).exists():
            raise ProfileError(f"{e} (shipped profiles: {', '.join(shipped())})") from None
        raise
    base = data.pop("extends", None)
    if base is not None:
        if not isinstance(base, str) or base in seen:
            raise ProfileError(f"{path}: extends must name another profile, without a loop")
        _apply_file(profile, base, (*seen, path))
    _apply(profile, data, path)


def _read(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"profile {path} is not text") from None
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml  # type: ignore[import-untyped,unused-ignore]

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is a bad file, said in one line
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ProfileError(f"profile {path} does not parse: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path}: top level must be a mapping")
    return data


def _apply(profile: SimProfile, data: dict[str, Any], path: str) -> None:
    for key, value in data.items():
        if key == "cluster":
            _set_fields(profile.cluster, value, f"{path}: cluster")
        elif key == "control_plane":
            _set_fields(profile.control_plane, value, f"{path}: control_plane")
        elif key == "workload":
            _set_fields(profile.workload, value, f"{path}: workload")
        elif key == "runtimes":
            if not isinstance(value, dict):
                raise ProfileError(f"{path}: runtimes must be a mapping of name to settings")
            for name, settings in value.items():
                where = f"{path}: runtimes.{name}"
                if not isinstance(settings, dict):
                    raise ProfileError(f"{where} must be a mapping")
                settings = dict(settings)
                like = settings.pop("like", None)
                if like is not None:
                    if like not in profile.runtimes:
                        known = ", ".join(sorted(profile.runtimes))
                        raise ProfileError(f"{where}: like {like!r} is not a known runtime ({known})")
                    base = dataclasses.replace(profile.runtimes[like])
                    if "handler" not in settings:
                        base.handler = str(name)
                else:
                    base = profile.runtimes.get(name) or RuntimeProfile(handler=str(name))
                _set_fields(base, settings, where)
                profile.runtimes[str(name)] = base
        else:
            raise ProfileError(
                f"{path}: unknown key {key!r} (expected cluster, runtimes, control_plane, workload)"
            )


def _set_fields(obj: Any, values: Any, where: str) -> None:
    if not isinstance(values, dict):
        raise ProfileError(f"{where} must be a mapping")
    hints = get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    for key, value in values.items():
        if key not in names:
            raise ProfileError(f"{where}: unknown key {key!r}")
        setattr(obj, key, _coerce(value, hints[key], f"{where}.{key}"))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif getattr(hint, "__origin__", None) is tuple:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (float(value),)
        if isinstance(value, list | tuple) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            return tuple(float(v) for v in value)
    name = getattr(hint, "__name__", str(hint))
    raise ProfileError(f"{where}: expected {name}, got {type(value).__name__} {value!r}")


def _validate(profile: SimProfile, where: str) -> None:
    c = profile.cluster
    positive = {
        "cluster.workers": c.workers, "cluster.worker_cpus": c.worker_cpus,
        "cluster.worker_memory_mib": c.worker_memory_mib, "cluster.max_pods": c.max_pods,
        "cluster.tick_s": c.tick_s, "cluster.eviction_interval_s": c.eviction_interval_s,
        "cluster.node_status_interval_s": c.node_status_interval_s,
        "control_plane.controller_pods_per_s": profile.control_plane.controller_pods_per_s,
        "control_plane.scheduler_pods_per_s": profile.control_plane.scheduler_pods_per_s,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ProfileError(f"{where}: {name} must be positive, got {value}")
    if not 0 < c.shm_fraction <= 1:
        raise ProfileError(f"{where}: cluster.shm_fraction must be in (0, 1], got {c.shm_fraction}")
    if c.worker_memory_mib <= c.kernel_reserved_mib + c.system_reserved_memory_mib:
        raise ProfileError(f"{where}: cluster.worker_memory_mib {c.worker_memory_mib} leaves no "
                           "memory for pods")
    if c.default_runtime not in profile.runtimes:
        raise ProfileError(f"{where}: cluster.default_runtime {c.default_runtime!r} is not a "
                           f"declared runtime ({', '.join(sorted(profile.runtimes))})")
    for name, r in profile.runtimes.items():
        if not 0 <= r.setup_min_progress <= 1:
            raise ProfileError(f"{where}: runtimes.{name}.setup_min_progress must be in [0, 1]")
        for attr in ("overhead_mib", "host_mib", "vm_memory_mib", "guest_base_mib", "sandbox_s",
                     "container_start_s", "teardown_s", "first_touch_us", "guest_fault_us"):
            if getattr(r, attr) < 0:
                raise ProfileError(f"{where}: runtimes.{name}.{attr} must not be negative")
    choices = [(f"runtimes.{n}.guest_memory", r.guest_memory, ("shared", "private"))
               for n, r in profile.runtimes.items()]
    choices += [(f"runtimes.{n}.shm_full", r.shm_full, ("pause", "die"))
                for n, r in profile.runtimes.items()]
    choices += [("workload.growth", profile.workload.growth, ("exact", "increments")),
                ("workload.guest_full", profile.workload.guest_full, ("refused", "oom")),
                ("workload.pacing", profile.workload.pacing, ("duty", "timer"))]
    for key, choice, allowed in choices:
        if choice not in allowed:
            raise ProfileError(f"{where}: {key} must be one of {', '.join(allowed)}, "
                               f"got {choice!r}")
    _validate_cpu(profile, where)
    if c.stuck_terminating_pods < 0 or profile.workload.base_rss_mib < 0:
        raise ProfileError(f"{where}: cluster.stuck_terminating_pods and "
                           "workload.base_rss_mib must not be negative")
    for name in ("infra_used_mib", "infra_cpu_request_m", "infra_memory_request_mib",
                 "page_cache_mib", "leftover_active_mib", "leftover_cache_mib",
                 "runtime_slowdown"):
        if not getattr(c, name):
            raise ProfileError(f"{where}: cluster.{name} needs at least one value")


def _validate_cpu(profile: SimProfile, where: str) -> None:
    """The CPU model's parameters (scaler.sim.cpu): none negative, weights and rates positive."""
    c, wl = profile.cluster, profile.workload
    values = {"cluster.system_cpu_cores": c.system_cpu_cores,
              "cluster.infra_cpu_cores": c.infra_cpu_cores,
              "workload.paced_pages_per_s": wl.paced_pages_per_s}
    for name, r in profile.runtimes.items():
        values.update({f"runtimes.{name}.{k}": getattr(r, k) for k in (
            "vcpus", "vm_host_cpu_cores", "vm_exit_cpu_share", "work_efficiency",
            "paced_work_ratio")})
    for key, value in values.items():
        if value < 0:
            raise ProfileError(f"{where}: {key} must not be negative, got {value}")
    for key, value in {"cluster.system_cpu_weight": c.system_cpu_weight,
                       "workload.pages_per_cpu_s": wl.pages_per_cpu_s,
                       "workload.paced_cpu_cores": wl.paced_cpu_cores}.items():
        if not value > 0:
            raise ProfileError(f"{where}: {key} must be positive, got {value}")
    if not 0 <= c.thrash_iowait_share <= 1:
        raise ProfileError(f"{where}: cluster.thrash_iowait_share must be in [0, 1]")
