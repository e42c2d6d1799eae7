"""`NodeHome`: the directory a node lives in.

==================  =======================================================
file                what
==================  =======================================================
``node.toml``       the configuration (optional: every setting has a default)
``node.key``        the Ed25519 key (PKCS#8 PEM, mode 0600): the node's identity
``api.token``       the bearer token for writes (mode 0600)
``store/``          database and package blobs (``[store] path``)
``node.url``        the API's URL while the node runs (for the command line)
==================  =======================================================

The key is the node: its id is derived from it and every announcement is signed
with it. `init` refuses to replace an existing key.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lwnode.config import NodeConfig, load_config, render_toml
from lwnode.errors import HomeError
from protocol.errors import KeyFileError
from protocol.signing import Identity

CONFIG_NAME = "node.toml"
KEY_NAME = "node.key"
TOKEN_NAME = "api.token"
URL_NAME = "node.url"
TOKEN_BYTES = 32


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$LWDOCK_HOME``, else ``~/.lwdock``."""
    env = os.environ if env is None else env
    return Path(env.get("LWDOCK_HOME") or Path.home() / ".lwdock")


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the start; refuse to replace a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class NodeHome:
    """Paths and secrets of one node's home directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.config_path = self.path / CONFIG_NAME
        self.key_path = self.path / KEY_NAME
        self.token_path = self.path / TOKEN_NAME
        self.url_path = self.path / URL_NAME

    # -- creation ----------------------------------------------------------------------
    def init(self, organization: str = "", *, http: Mapping[str, Any] | None = None
             ) -> Identity:
        """Create config, key and token; raise `HomeError` if a key exists already."""
        if self.key_path.exists():
            raise HomeError(f"{self.key_path} exists: this home already has a node key "
                            "(refusing to replace a node's identity)")
        if self.path.exists() and not self.path.is_dir():
            raise HomeError(f"{self.path}: not a directory")
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        overrides: dict[str, dict[str, Any]] = {"node": {"organization": organization}}
        if http:
            overrides["http"] = dict(http)
        config = load_config(None, env={}, overrides=overrides)
        identity = self._create_key()
        if not self.token_path.exists():
            self._create_token()
        if not self.config_path.exists():
            self.config_path.write_text(render_toml(config), encoding="utf-8")
        return identity

    def ensure(self) -> bool:
        """Create key and token if missing (``lwnode run`` on a fresh home); True if made."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = False
        if not self.key_path.exists():
            self._create_key()
            made = True
        if not self.token_path.exists():
            self._create_token()
            made = True
        return made

    def _create_key(self) -> Identity:
        identity = Identity.generate()
        try:
            identity.save(self.key_path)
        except FileExistsError:
            raise HomeError(f"{self.key_path} exists: refusing to replace a node key"
                            ) from None
        return identity

    def _create_token(self) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        _write_private(self.token_path, (token + "\n").encode())
        return token

    # -- reading -------------------------------------------------------------------------
    def identity(self) -> Identity:
        try:
            return Identity.load(self.key_path)
        except FileNotFoundError:
            raise HomeError(f"{self.key_path}: no node key; run: lwnode init --home "
                            f"{self.path}") from None
        except KeyFileError as exc:
            raise HomeError(str(exc)) from None

    def token(self) -> str:
        try:
            mode = self.token_path.stat().st_mode
            text = self.token_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise HomeError(f"{self.token_path}: no API token; give the --home of the node "
                            "you publish to, --token or $LWDOCK_TOKEN (a new node: lwnode "
                            "init --home DIR)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise HomeError(f"{self.token_path}: unreadable ({exc})") from None
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise HomeError(f"{self.token_path}: mode {stat.S_IMODE(mode):04o} lets others read "
                            f"the API token; run: chmod 600 {self.token_path}")
        if not text:
            raise HomeError(f"{self.token_path}: empty API token")
        return text

    def config(self, *, env: Mapping[str, str] | None = None,
               overrides: Mapping[str, Mapping[str, Any]] | None = None,
               config_file: str | os.PathLike[str] | None = None) -> NodeConfig:
        """The resolved config: `config_file` (default ``node.toml`` here), env, flags."""
        path = Path(config_file) if config_file is not None else self.config_path
        return load_config(path, env=env, overrides=overrides,
                           require_file=config_file is not None)

    def store_dir(self, config: NodeConfig) -> Path:
        return self.path / Path(config.store.path).expanduser()

    # -- runtime -------------------------------------------------------------------------
    def write_url(self, url: str) -> None:
        tmp = self.url_path.with_name(URL_NAME + ".tmp")
        tmp.write_text(url + "\n", encoding="utf-8")
        os.replace(tmp, self.url_path)

    def read_url(self) -> str | None:
        try:
            return self.url_path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def clear_url(self) -> None:
        self.url_path.unlink(missing_ok=True)
