"""The shared SSH options: parsing of --node / --jump-host / --sample-interval, bad input exit 2."""

import click
import pytest
from click.testing import CliRunner

from collectors.remote_pods import PodReading  # noqa: F401 - eval() of the options' repr
from collectors.ssh_targets import (
    JumpHost,
    NodeTarget,
    SSHOptions,
    parse_host_port,
    parse_jump_host,
    parse_node,
    parse_nodes,
)
from scaler.cli_nodes import nodes as nodes_group
from scaler.ssh_options import (
    SSH_ACCESS_PARAM_NAMES,
    SSH_PARAM_NAMES,
    ssh_access_options,
    ssh_options,
    ssh_settings_from,
)


@click.command()
@ssh_options
def cmd(**kwargs):
    options, targets, interval, enabled = ssh_settings_from(kwargs)
    click.echo(repr((options, targets, interval, enabled)))


def run(*args, env=None):
    return CliRunner().invoke(cmd, list(args), env=env, auto_envvar_prefix="SCALER")


def test_defaults():
    r = run()
    assert r.exit_code == 0, r.output
    options, targets, interval, enabled = eval(r.output)  # repr of plain dataclasses
    assert options == SSHOptions(user=None, port=None)  # not given: ~/.ssh/config, else core / 22
    assert targets == [] and interval == 1.0 and enabled is True
    assert options.reading.sudo == "auto" and options.reading.pod_interval_s == 5.0


def test_all_options(tmp_path):
    key = tmp_path / "id"
    key.write_text("x")
    kh = tmp_path / "kh"
    kh.write_text("")
    r = run("--ssh-user", "admin", "-i", str(key), "--ssh-port", "2222", "--jump-host",
            "me@bastion:2200", "--ssh-known-hosts", str(kh), "--ssh-insecure",
            "--node", "w1=10.0.0.1", "--node", "w2=[fd00::2]:23", "--sample-interval", "500ms",
            "--no-collectors", "--ssh-sudo", "never", "--pod-interval", "2s")
    assert r.exit_code == 0, r.output
    options, targets, interval, enabled = eval(r.output)
    assert options.user == "admin" and options.identity_files == (str(key),)
    assert options.port == 2222 and options.jump_host == "me@bastion:2200"
    assert options.known_hosts == str(kh) and options.insecure
    assert targets == [NodeTarget("w1", "10.0.0.1"), NodeTarget("w2", "fd00::2", 23)]
    assert interval == 0.5 and enabled is False
    assert options.reading.sudo == "never" and options.reading.pod_interval_s == 2.0
    assert options.reading.pod_every(interval) == 4
    assert eval(run("--pod-interval", "0").output)[0].reading.pod_every(1.0) == 0  # off


def test_env_var_prefix():
    r = run(env={"SCALER_SSH_USER": "envuser", "SCALER_SSH_SUDO": "always"})
    assert r.exit_code == 0
    assert eval(r.output)[0].user == "envuser"
    assert eval(r.output)[0].reading.sudo == "always"


@pytest.mark.parametrize(
    "args, hint",
    [
        (["--node", "w1"], "--node"),
        (["--node", "w1=host:99999"], "--node"),
        (["--node", "bad name=h"], "--node"),
        (["--node", "w1=h;rm -rf /"], "--node"),
        (["--node", "w1=a..b"], "--node"),
        (["--node", "w1=a", "--node", "w1=b"], "--node"),
        (["--jump-host", "@host"], "--jump-host"),
        (["--jump-host", "h:port"], "--jump-host"),
        (["--sample-interval", "10ms"], "--sample-interval"),
        (["--sample-interval", "soon"], "--sample-interval"),
        (["-i", "/nonexistent/key"], "--ssh-key"),
        (["--ssh-sudo", "maybe"], "--ssh-sudo"),
        (["--pod-interval", "100ms"], "--pod-interval"),
        (["--pod-interval", "-1s"], "--pod-interval"),
        (["--jump-fan-in"], "--jump-fan-in"),
        (["--jump-host", "b", "--jump-fan-in", "--jump-ssh-option", "-oProxyCommand=x"],
         "--jump-ssh-option"),
        (["--jump-host", "b", "--jump-ssh-option", "IdentityFile=k"], "--jump-ssh-option"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, hint):
    r = run(*args)
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert hint in r.output


def test_parsers():
    assert parse_node("w-1.x=10.1.2.3:2022") == NodeTarget("w-1.x", "10.1.2.3", 2022)
    assert parse_host_port("[::1]", "x") == ("::1", None)
    assert parse_host_port("::1", "x") == ("::1", None)
    assert parse_jump_host("bastion") == JumpHost("bastion")
    assert parse_jump_host("u@b:1") == JumpHost("b", "u", 1)
    with pytest.raises(ValueError):
        parse_node("w=host name")
    with pytest.raises(ValueError):
        parse_nodes(["a=h", "a=i"])


def test_param_names_match_decorator():
    names = {p.name for p in cmd.params}
    assert names == set(SSH_PARAM_NAMES)

    @click.command()
    @ssh_access_options
    def access(**kwargs):
        pass

    assert {p.name for p in access.params} == set(SSH_ACCESS_PARAM_NAMES)


@pytest.mark.parametrize("option", [["--sample-interval", "2s"], ["--no-collectors"]])
def test_probe_refuses_options_that_mean_nothing_there(option):
    r = CliRunner().invoke(nodes_group, ["probe", "--node", "w1=127.0.0.1", *option])
    assert r.exit_code == 2 and "No such option" in r.output and option[0] in r.output
    help_text = CliRunner().invoke(nodes_group, ["probe", "--help"]).output
    assert option[0] not in help_text and "--ssh-user" in help_text


def test_jump_fan_in_options():
    r = run("--jump-host", "me@bastion", "--jump-fan-in", "--jump-ssh-option", "IdentityFile=~/k",
            "--jump-ssh-option", "UserKnownHostsFile=/etc/ssh/nodes_known_hosts")
    assert r.exit_code == 0, r.output
    options = eval(r.output)[0]
    assert options.jump_fan_in and options.jump_host == "me@bastion"
    assert options.jump_ssh_options == ("IdentityFile=~/k", "UserKnownHostsFile=/etc/ssh/nodes_known_hosts")
    r = run(env={"SCALER_JUMP_HOST": "bastion", "SCALER_JUMP_FAN_IN": "1"})
    assert r.exit_code == 0, r.output
    assert eval(r.output)[0].jump_fan_in
    assert not eval(run("--jump-host", "b").output)[0].jump_fan_in  # opt-in
