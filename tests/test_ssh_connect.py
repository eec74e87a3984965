"""SSHOptions -> asyncssh.connect arguments: what is set, and what is left to ~/.ssh/config."""

import getpass
import io
import socket

import asyncssh
import pytest

from collectors.ssh_connect import (
    INSECURE_WARNING,
    PREFERRED_CIPHERS,
    Connector,
    HostNotFound,
    describe_error,
)
from collectors.ssh_targets import NodeTarget, SSHOptions


def test_without_command_line_or_config_the_defaults_are_core_and_22(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config
    c = Connector(SSHOptions(), keepalive_interval_s=2.0)
    kw = c.connect_kwargs(NodeTarget("w1", "10.0.0.5"))
    assert (kw["host"], kw["port"], kw["username"]) == ("10.0.0.5", 22, "core")
    for key in ("client_keys", "known_hosts", "config", "tunnel"):
        assert key not in kw, key  # asyncssh then reads ~/.ssh/config and ~/.ssh/known_hosts
    assert kw["keepalive_interval"] == 2.0 and kw["keepalive_count_max"] == 3
    assert kw["encryption_algs"][0] == "aes128-gcm@openssh.com" == PREFERRED_CIPHERS[0]
    assert c.jump_kwargs() is None


def test_user_and_port_in_openssh_order(tmp_path, monkeypatch):
    """Command line, then ~/.ssh/config (first matching value wins), then core / 22."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        "Host 10.0.0.5\n  User admin\n  Port 2222\n"
        "Host 10.0.0.6\n  Port 2200\n  Ciphers aes256-ctr\n"
        "Host *\n  User fallback\n"
    )

    def pick(options, target):
        kw = Connector(options).connect_kwargs(target)
        return kw["username"], kw["port"]

    assert pick(SSHOptions(), NodeTarget("a", "10.0.0.5")) == ("admin", 2222)
    assert pick(SSHOptions(user="me", port=2022), NodeTarget("a", "10.0.0.5")) == ("me", 2022)
    assert pick(SSHOptions(port=2022), NodeTarget("a", "10.0.0.5", 23)) == ("admin", 23)  # --node's port
    assert pick(SSHOptions(), NodeTarget("b", "10.0.0.6")) == ("fallback", 2200)
    assert pick(SSHOptions(), NodeTarget("c", "10.0.0.7")) == ("fallback", 22)
    # a Ciphers line in the config wins over our preference
    assert "encryption_algs" not in Connector(SSHOptions()).connect_kwargs(NodeTarget("b", "10.0.0.6"))
    # an explicit empty config list reads no file at all
    assert pick(SSHOptions(config_files=()), NodeTarget("a", "10.0.0.5")) == ("core", 22)
    # the jump host: spec, then config, then the local user (as ssh -J), never "core"
    (tmp_path / ".ssh" / "config").write_text("Host bastion\n  User ops\n")
    assert Connector(SSHOptions(jump_host="bastion")).jump_kwargs()["username"] == "ops"
    assert Connector(SSHOptions(jump_host="me@bastion:2")).jump_kwargs()["username"] == "me"
    (tmp_path / ".ssh" / "config").write_text("")
    assert Connector(SSHOptions(jump_host="bastion")).jump_kwargs()["username"] == getpass.getuser()


def test_a_broken_config_file_is_one_line(tmp_path):
    config = tmp_path / "config"
    config.write_text("Port notanumber\n")
    with pytest.raises(ValueError, match="ssh config"):
        Connector(SSHOptions(config_files=(str(config),))).connect_kwargs(NodeTarget("a", "h"))


def test_explicit_values_and_target_port_win(tmp_path):
    kh = tmp_path / "kh"
    kh.write_text("")
    cfg = tmp_path / "cfg"
    cfg.write_text("Host *\n  User other\n  Port 2\n")
    opts = SSHOptions(user="core", identity_files=("/k1", "/k2"), port=2200, known_hosts=str(kh),
                      keepalive_interval_s=0.5, keepalive_count_max=4, config_files=(str(cfg),),
                      jump_host="ops@bastion:2022", connect_timeout_s=3.0)
    c = Connector(opts, keepalive_interval_s=9.0)
    kw = c.connect_kwargs(NodeTarget("w1", "10.0.0.5", port=2201))
    assert kw["port"] == 2201 and kw["username"] == "core" and kw["client_keys"] == ["/k1", "/k2"]
    assert isinstance(kw["known_hosts"], asyncssh.SSHKnownHosts)  # read once, not per node
    assert kw["keepalive_interval"] == 0.5 and kw["keepalive_count_max"] == 4
    assert kw["config"] == [str(cfg)] and kw["connect_timeout"] == 3.0
    assert c.connect_kwargs(NodeTarget("w2", "10.0.0.6"))["port"] == 2200
    jump = c.jump_kwargs()
    assert (jump["host"], jump["port"], jump["username"]) == ("bastion", 2022, "ops")
    assert jump["client_keys"] == ["/k1", "/k2"]


def test_insecure_disables_verification_and_warns():
    out = io.StringIO()
    c = Connector(SSHOptions(insecure=True, known_hosts="/ignored"), warn_to=out)
    assert c.connect_kwargs(NodeTarget("w", "h"))["known_hosts"] is None  # asyncssh: no checking
    assert out.getvalue() == INSECURE_WARNING + "\n"
    quiet = io.StringIO()
    Connector(SSHOptions(), warn_to=quiet)
    assert quiet.getvalue() == ""


def test_errors_read_as_one_line():
    assert describe_error(TimeoutError()) == "timed out"
    assert describe_error(ConnectionRefusedError(111, "Connect call failed ('1.2.3.4', 22)")) == "Connection refused"
    assert "known_hosts" in describe_error(asyncssh.HostKeyNotVerifiable("Host key is not trusted"))
    assert describe_error(asyncssh.PermissionDenied("nope")) == "permission denied (nope)"
    unresolved = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert describe_error(unresolved, "node-7.example") == (
        "cannot resolve host 'node-7.example' (Name or service not known)")
    assert str(HostNotFound("n7", unresolved)) == "cannot resolve host 'n7' (Name or service not known)"
    assert "Unknown error" not in describe_error(unresolved)
