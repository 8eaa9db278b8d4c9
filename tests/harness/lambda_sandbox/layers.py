"""The filesystem (layers merged into /opt, extension discovery, log files) and the processes' environments."""

from __future__ import annotations

import secrets
import shlex
import shutil
from pathlib import Path

from .model import _PROTECTED_ENV, EXECUTION_ENV, HIDDEN_FROM_EXTENSIONS, SandboxError
from .state import _SandboxState


class _LayersMixin(_SandboxState):
    def _prepare_dirs(self, layers: list[Path]) -> None:
        self.opt_dir.mkdir()
        self.runtime_dir.mkdir()
        self.bin_dir.mkdir()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for layer in layers:
            if not layer.is_dir():
                raise SandboxError(f"layer {layer} is not a directory")
            # Later layers win, like Lambda's layer merge order.
            shutil.copytree(
                layer,
                self.opt_dir,
                symlinks=True,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        ext_dir = self.opt_dir / "extensions"
        if ext_dir.is_dir():
            for item in ext_dir.iterdir():
                if item.is_file():
                    item.chmod(item.stat().st_mode | 0o111)
        for name in ("python", "python3"):
            wrapper = self.bin_dir / name
            wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(self.python)} "$@"\n')
            wrapper.chmod(0o755)

    def _discover_extensions(self) -> list[Path]:
        ext_dir = self.opt_dir / "extensions"
        if not ext_dir.is_dir():
            return []
        return sorted(p for p in ext_dir.iterdir() if p.is_file())

    def _log_path(self, name: str) -> Path:
        path = self._log_names.get(name)
        if path is None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "process"
            path = self.log_dir / f"{safe}.log"
            self._log_names[name] = path
        return path

    def logs(self) -> dict[str, str]:
        """Captured stdout+stderr per process name ("runtime" and the extension names)."""
        out: dict[str, str] = {}
        for name, path in list(self._log_names.items()):
            try:
                out[name] = path.read_text(errors="replace")
            except OSError:
                out[name] = ""
        return out

    def _build_envs(self, port: int) -> tuple[dict[str, str], dict[str, str]]:
        user = dict(self.user_env)
        pythonpath = [str(self.opt_dir / "python")]
        site_dirs = sorted((self.opt_dir / "python" / "lib").glob("python3*/site-packages"))
        pythonpath += [str(p) for p in site_dirs]
        pythonpath.append(str(self.task_root))
        if user.get("PYTHONPATH"):
            pythonpath.append(user["PYTHONPATH"])
        path = [str(self.bin_dir), str(Path(self.python).parent), str(self.opt_dir / "bin")]
        path += ["/usr/local/bin", "/usr/bin", "/bin"]
        if user.get("PATH"):
            path.append(user["PATH"])

        env: dict[str, str] = {
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self._log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "ASIA" + secrets.token_hex(8).upper(),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_EXECUTION_ENV": EXECUTION_ENV,
            "LAMBDA_RUNTIME_DIR": str(self.runtime_dir),
        }
        if "AWS_ACCESS_KEY_ID" in user:
            # Whoever sets a key id sets its secret too; do not pair it with a random secret.
            env.pop("AWS_SECRET_ACCESS_KEY")
        env.update({k: v for k, v in user.items() if k not in _PROTECTED_ENV})
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
                "_HANDLER": self.handler,
                "LAMBDA_TASK_ROOT": str(self.task_root),
                "PATH": ":".join(path),
                "PYTHONPATH": ":".join(pythonpath),
            }
        )
        ext_env = {k: v for k, v in env.items() if k not in HIDDEN_FROM_EXTENSIONS}
        return env, ext_env

    @property
    def runtime_env(self) -> dict[str, str]:
        """Environment of the current (or last) runtime process."""
        return dict(self._runtime_env)

    @property
    def extension_env(self) -> dict[str, str]:
        """Environment of the current (or last) extension processes."""
        return dict(self._extension_env)
