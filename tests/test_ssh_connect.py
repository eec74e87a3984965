"""SSHOptions -> asyncssh.connect arguments: what is set, and what is left to ~/.ssh/config."""

import io

import asyncssh

from collectors.ssh_connect import INSECURE_WARNING, Connector, describe_error
from collectors.ssh_targets import NodeTarget, SSHOptions


def test_unset_values_are_left_to_ssh_config():
    c = Connector(SSHOptions(user=None, port=None), keepalive_interval_s=1.0)
    kw = c.connect_kwargs(NodeTarget("w1", "10.0.0.5"))
    assert kw["host"] == "10.0.0.5"
    for key in ("port", "username", "client_keys", "known_hosts", "config", "tunnel"):
        assert key not in kw, key  # asyncssh then reads ~/.ssh/config and ~/.ssh/known_hosts
    assert kw["keepalive_interval"] == 1.0 and kw["keepalive_count_max"] == 3
    assert c.jump_kwargs() is None


def test_explicit_values_and_target_port_win(tmp_path):
    kh = tmp_path / "kh"
    kh.write_text("")
    opts = SSHOptions(user="core", identity_files=("/k1", "/k2"), port=2200, known_hosts=str(kh),
                      keepalive_interval_s=0.5, keepalive_count_max=4, config_files=("/cfg",),
                      jump_host="ops@bastion:2022", connect_timeout_s=3.0)
    c = Connector(opts, keepalive_interval_s=9.0)
    kw = c.connect_kwargs(NodeTarget("w1", "10.0.0.5", port=2201))
    assert kw["port"] == 2201 and kw["username"] == "core" and kw["client_keys"] == ["/k1", "/k2"]
    assert isinstance(kw["known_hosts"], asyncssh.SSHKnownHosts)  # read once, not per node
    assert kw["keepalive_interval"] == 0.5 and kw["keepalive_count_max"] == 4
    assert kw["config"] == ["/cfg"] and kw["connect_timeout"] == 3.0
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
