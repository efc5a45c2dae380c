"""`mtasim import`: real configuration files -> a `sender:` block that builds the same Sender as the preset.

Every sample is written to tmp_path as an administrator would have it (a Debian main.cf, `postconf -n`
output, an exim4.conf.template excerpt with Debian's /etc/default/exim4, `Get-TransportService |
Format-List`); the printed YAML is fed back through mtasim.scenario_from_dict and its schedule compared
with the preset built directly from the same values.
"""

from __future__ import annotations

import copy

import pytest
import yaml

import mtasim
from mtasim import get_preset, trace_schedule
from mtasim.cli import main

DAY = 86400.0
HOUR = 3600.0
MIN = 60.0
SCENARIO = {"name": "imported", "messages": {"count": 1}, "recipients": [{"domain": "r.example"}]}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_import(capsys, *argv):
    """(exit status, stdout, stderr) of `mtasim import ARGV`."""
    status = main(["import", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def imported_sender(text):
    """The Sender of a minimal scenario whose sender: block is the printed YAML's."""
    data = copy.deepcopy(SCENARIO)
    data["sender"] = yaml.safe_load(text)["sender"]
    return mtasim.scenario_from_dict(data, "<imported>").sender


def same_trace(a, b):
    return trace_schedule(a) == trace_schedule(b)


def assert_one_line_error(status, out, err, *parts):
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mtasim: "), err
    for part in parts:
        assert part in err, (part, err)


# -- Postfix ----------------------------------------------------------------------------------------
DEBIAN_MAIN_CF = """\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version


# Debian specific:  Specifying a file name will cause the first
# line of that file to be used as the name.  The Debian default
# is /etc/mailname.
#myorigin = /etc/mailname

smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no

# appending .domain is the MUA's job.
append_dot_mydomain = no

# Uncomment the next line to generate "delayed mail" warnings
delay_warning_time = 4

readme_directory = no

# See http://www.postfix.org/COMPATIBILITY_README.html -- default to 3.6 on
# fresh installs.
compatibility_level = 3.6

smtpd_relay_restrictions = permit_mynetworks
    permit_sasl_authenticated
    defer_unauth_destination
myhostname = mx1.example.org
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
myorigin = /etc/mailname
mydestination = $myhostname, example.org,
    mx1.example.org, localhost.localdomain, localhost
relayhost =
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all

# Queue: give up after two days, retry no more often than every 10 minutes
maximal_queue_lifetime = 2d
bounce_queue_lifetime = $maximal_queue_lifetime
minimal_backoff_time =
    600s
queue_run_delay = $minimal_backoff_time
"""


def test_postfix_debian_main_cf_round_trips(capsys, tmp_path):
    """A Debian main.cf (comments, continuations, $references, a bare number) gives the preset's own schedule."""
    path = write(tmp_path, "main.cf", DEBIAN_MAIN_CF)
    status, out, err = run_import(capsys, "postfix", path)
    assert status == 0, err
    assert yaml.safe_load(out)["sender"] == {
        "preset": "postfix", "minimal_backoff_time": "600s", "queue_run_delay": "600s",
        "maximal_queue_lifetime": "2d", "delay_warning_time": "4h"}
    direct = get_preset("postfix").sender({"maximal_queue_lifetime": 2 * DAY, "minimal_backoff_time": 600.0,
                                           "queue_run_delay": 600.0, "delay_warning_time": 4 * HOUR})
    assert same_trace(imported_sender(out), direct)
    assert not same_trace(direct, get_preset("postfix").sender())
    assert "delay_warning_time: 4h" in out and "4 hours, the parameter's default unit" in out
    assert "(= $minimal_backoff_time)" in out


def test_postfix_comments_list_the_ignored_parameters(capsys, tmp_path):
    """The ignored parameters are listed: retry-related ones with a reason, the rest as not about retries."""
    _, out, _ = run_import(capsys, "postfix", write(tmp_path, "main.cf", DEBIAN_MAIN_CF))
    comments = " ".join(line[2:] for line in out.splitlines() if line.startswith("# "))
    assert "ignored: smtpd_banner, biff, append_dot_mydomain" in comments
    assert "myhostname" in comments and "(not about retries)" in comments
    assert "bounce_queue_lifetime = $maximal_queue_lifetime (lifetime of bounces" in comments


POSTCONF_N = """\
alias_database = hash:/etc/aliases
alias_maps = hash:/etc/aliases
append_dot_mydomain = no
biff = no
compatibility_level = 3.6
inet_interfaces = all
maximal_backoff_time = 1h
maximal_queue_lifetime = 3
minimal_backoff_time = 5m
mydestination = $myhostname, localhost.localdomain, localhost
myhostname = relay.example.net
postconf: warning: /etc/postfix/main.cf: unused parameter: smtpd_tls_security_levle=may
queue_run_delay = 60
smtp_destination_concurrency_failed_cohort_limit = 0
smtpd_banner = $myhostname ESMTP $mail_name
"""


def test_postconf_n_output_round_trips_with_default_units(capsys, tmp_path):
    """`postconf -n` output: bare numbers take the parameter's default unit (days, seconds); smtp_ overrides."""
    status, out, err = run_import(capsys, "postfix", write(tmp_path, "postconf-n.txt", POSTCONF_N))
    assert status == 0, err
    assert yaml.safe_load(out)["sender"] == {
        "preset": "postfix", "minimal_backoff_time": "5m", "maximal_backoff_time": "1h", "queue_run_delay": "60s",
        "maximal_queue_lifetime": "3d", "default_destination_concurrency_failed_cohort_limit": 0}
    assert "smtp_destination_concurrency_failed_cohort_limit (the smtp transport's own setting)" in out
    direct = get_preset("postfix").sender({
        "minimal_backoff_time": 300.0, "maximal_backoff_time": HOUR, "queue_run_delay": 60.0,
        "maximal_queue_lifetime": 3 * DAY, "default_destination_concurrency_failed_cohort_limit": 0})
    assert same_trace(imported_sender(out), direct)


# -- Exim -------------------------------------------------------------------------------------------
EXIM4_CONF_TEMPLATE = """\
#########
# WARNING WARNING WARNING
# WARNING WARNING WARNING
# This file is generated dynamically from the files in
# the conf.d/ subdirectory of /etc/exim4 or from this file.
#########

######################################################################
#                    MAIN CONFIGURATION SETTINGS                     #
######################################################################

.ifndef MAIN_TIMEOUT_FROZEN_AFTER
MAIN_TIMEOUT_FROZEN_AFTER = 7d
.endif
timeout_frozen_after = MAIN_TIMEOUT_FROZEN_AFTER

.ifdef MAIN_RETRY_INTERVAL_MAX
retry_interval_max = MAIN_RETRY_INTERVAL_MAX
.else
retry_interval_max = 12h
.endif

DELAY_WARNING = 8h
delay_warning = DELAY_WARNING

domainlist local_domains = MAIN_LOCAL_DOMAINS
ignore_bounce_errors_after = 2d
freeze_tell = postmaster
smtp_banner = $smtp_active_hostname ESMTP Exim $version_number \\
    $tod_full
.include_if_exists /etc/exim4/exim4.conf.localmacros

begin routers

dnslookup:
  debug_print = "R: dnslookup for $local_part@$domain"
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more

begin transports

remote_smtp:
  debug_print = "T: remote_smtp for $local_part@$domain"
  driver = smtp

######################################################################
#                      RETRY CONFIGURATION                           #
######################################################################

begin retry

# Address or Domain    Error       Retries
# -----------------    -----       -------
partner.example        *           F,1h,5m; F,2d,30m
*                      rcpt_4xx    F,1h,10m
*                      *           F,2h,15m; G,16h,1h,1.5; F,4d,6h

begin rewrite

begin authenticators
"""

DEBIAN_DEFAULT_EXIM4 = """\
# /etc/default/exim4
EX4DEF_VERSION=''

# 'combined'   - one daemon running queue and listening on SMTP port
# 'no'         - no daemon running the queue
# 'separate'   - two separate daemons
# 'ppp'        - only run queue with /etc/ppp/ip-up.d/exim4.
# 'nodaemon'   - no daemon is started at all.
# 'queueonly'  - only a queue running daemon is started, no SMTP listener.
# setting this to 'no' will also disable queueruns from /etc/ppp/ip-up.d
QUEUERUNNER='combined'
# how often should we run the queue
QUEUEINTERVAL='15m'
# options common to quez-runner and listening daemon
COMMONOPTIONS=''
# more options for the daemon/process running the queue (applies to the one
# started in /etc/init.d/exim4 only)
QUEUERUNNEROPTIONS=''
# special flags given to exim directly after the -q. See exim(8)
QFLAGS=''
# Options for the SMTP listener daemon. By default, it is listening on
# port 25 only. To listen on more ports, it is recommended to use
# -oX 25:587:10025 -oP /run/exim4/exim.pid
SMTPLISTENEROPTIONS=''
"""


def test_exim_template_and_debian_default_round_trip(capsys, tmp_path):
    """exim4.conf.template + /etc/default/exim4: the catch-all rule, macros, QUEUEINTERVAL -> the exim preset."""
    conf = write(tmp_path, "exim4.conf.template", EXIM4_CONF_TEMPLATE)
    default = write(tmp_path, "exim4", DEBIAN_DEFAULT_EXIM4)
    status, out, err = run_import(capsys, "exim", conf, default)
    assert status == 0, err
    assert yaml.safe_load(out)["sender"] == {
        "preset": "exim", "retry_rules": "F,2h,15m; G,16h,1h,1.5; F,4d,6h", "retry_interval_max": "12h",
        "queue_interval": "15m", "delay_warning": "8h"}
    comments = " ".join(line[2:] for line in out.splitlines() if line.startswith("# "))
    assert "retry_rules: the catch-all rule" in comments
    assert "line 56: partner.example * F,1h,5m; F,2d,30m" in comments
    assert "not followed: exim4.conf.template line 31: .include_if_exists" in comments
    assert "timeout_frozen_after = 7d (frozen messages, not modelled)" in comments
    assert "ignored: freeze_tell, smtp_banner" in comments
    direct = get_preset("exim").sender({"retry_rules": "F,2h,15m; G,16h,1h,1.5; F,4d,6h",
                                        "retry_interval_max": 12 * HOUR, "queue_interval": 15 * MIN,
                                        "delay_warning": 8 * HOUR})
    assert same_trace(imported_sender(out), direct)


def test_exim_without_catch_all_takes_the_first_star_rule_and_says_so(capsys, tmp_path):
    """With no `* *` rule the first rule for `*` is taken, and the comment says which; no QUEUEINTERVAL noted."""
    conf = write(tmp_path, "configure", "begin retry\n"
                 "example.com   *          F,1h,5m\n"
                 "*             timeout    F,1d,20m; G,3d,1h,2\n")
    status, out, err = run_import(capsys, "exim", conf)
    assert status == 0, err
    sender = yaml.safe_load(out)["sender"]
    assert sender == {"preset": "exim", "retry_rules": "F,1d,20m; G,3d,1h,2"}
    assert "the first rule for every domain (there is no catch-all '* *' rule)" in out
    assert "no QUEUEINTERVAL" in out
    assert same_trace(imported_sender(out), get_preset("exim").sender({"retry_rules": "F,1d,20m; G,3d,1h,2"}))


@pytest.mark.parametrize("line, expected", [("queue_run_in_order", 1), ("no_queue_run_in_order", 0),
                                            ("queue_run_in_order = true", 1), ("queue_run_in_order = false", 0)])
def test_exim_queue_run_in_order_is_imported_as_the_preset_switch(capsys, tmp_path, line, expected):
    """Exim's boolean, in each of its spellings, becomes queue_run_in_order 1/0, and the sender's queue
    order follows it (arrival order, else a random order per queue run)."""
    conf = write(tmp_path, "configure", f"{line}\nbegin retry\n* * F,2h,15m; G,16h,1h,1.5; F,4d,6h\n")
    status, out, err = run_import(capsys, "exim", conf)
    assert status == 0, err
    assert yaml.safe_load(out)["sender"]["queue_run_in_order"] == expected
    assert imported_sender(out).queue_order == ("arrival" if expected else "random")


def test_exim_connection_max_messages_comes_from_the_smtp_transport(capsys, tmp_path):
    """The smtp transport's option (not a pipe or local transport's) becomes the preset's parameter, and the
    sender passes a connection on for at most that many messages."""
    conf = write(tmp_path, "configure", "begin transports\n"
                 "address_pipe:\n  driver = pipe\n  connection_max_messages = 7\n"
                 "remote_smtp:\n  driver = smtp\n  connection_max_messages = 50\n"
                 "begin retry\n* * F,2h,15m; G,16h,1h,1.5; F,4d,6h\n")
    status, out, err = run_import(capsys, "exim", conf)
    assert status == 0, err
    assert yaml.safe_load(out)["sender"]["connection_max_messages"] == 50
    assert "the smtp transport remote_smtp" in out
    assert imported_sender(out).connection_reuse.max_messages == 50


def test_exim_queue_run_in_order_with_a_bad_value_is_one_line(capsys, tmp_path):
    conf = write(tmp_path, "configure", "queue_run_in_order = maybe\nbegin retry\n* * F,2h,15m\n")
    status, out, err = run_import(capsys, "exim", conf)
    assert_one_line_error(status, out, err, "line 1", "queue_run_in_order", "maybe")


# -- Exchange ---------------------------------------------------------------------------------------
GET_TRANSPORT_SERVICE = r"""
[PS] C:\Windows\system32>Get-TransportService EX01 | Format-List

RunspaceId                                      : 5d7c9a3e-4a8e-4c1b-9d1e-0b8f3e2a6c11
Name                                            : EX01
ActiveUserStatisticsLogMaxAge                   : 30.00:00:00
AgentLogPath                                    : C:\Program Files\Microsoft\Exchange Server\V15\TransportRol
                                                  es\Logs\Hub\AgentLog
DelayNotificationTimeout                        : 06:00:00
MessageExpirationTimeout                        : 3.00:00:00
QueueMaxIdleTime                                : 00:03:00
MessageRetryInterval                            : 00:05:00
TransientFailureRetryInterval                   : 00:05:00
TransientFailureRetryCount                      : 6
OutboundConnectionFailureRetryInterval          : 00:15:00
MaxPerDomainOutboundConnections                 : 40
ServerRole                                      : Mailbox
ExternalDNSServers                              : {}
"""

EXCHANGE_VALUES = {"DelayNotificationTimeout": 6 * HOUR, "MessageExpirationTimeout": 3 * DAY,
                   "MessageRetryInterval": 5 * MIN, "TransientFailureRetryInterval": 5 * MIN,
                   "TransientFailureRetryCount": 6, "OutboundConnectionFailureRetryInterval": 15 * MIN}


def test_exchange_transport_service_round_trips(capsys, tmp_path):
    """Get-TransportService | Format-List (ServerRole Mailbox, wrapped value) -> exchange-server, same schedule."""
    status, out, err = run_import(capsys, "exchange", write(tmp_path, "ts.txt", GET_TRANSPORT_SERVICE))
    assert status == 0, err
    sender = yaml.safe_load(out)["sender"]
    assert sender == {"preset": "exchange-server", "MessageExpirationTimeout": "3.00:00:00",
                      "TransientFailureRetryCount": 6, "TransientFailureRetryInterval": "00:05:00",
                      "OutboundConnectionFailureRetryInterval": "00:15:00", "MessageRetryInterval": "00:05:00",
                      "DelayNotificationTimeout": "06:00:00", "MaxPerDomainOutboundConnections": 40}
    assert "role: ServerRole : Mailbox" in out
    assert "QueueMaxIdleTime = 00:03:00 (queue idle time, not modelled)" in out
    assert same_trace(imported_sender(out), get_preset("exchange-server").sender(EXCHANGE_VALUES))


def test_exchange_edge_from_role_option_or_output(capsys, tmp_path):
    """--role edge, or IsEdgeServer : True in the output, selects exchange-edge."""
    path = write(tmp_path, "ts.txt", GET_TRANSPORT_SERVICE)
    status, out, _ = run_import(capsys, "exchange", path, "--role", "edge")
    assert status == 0 and yaml.safe_load(out)["sender"]["preset"] == "exchange-edge"
    assert "the output says ServerRole : Mailbox" in out
    assert same_trace(imported_sender(out), get_preset("exchange-edge").sender(EXCHANGE_VALUES))
    edge = write(tmp_path, "edge.txt", GET_TRANSPORT_SERVICE.replace("ServerRole                                      "
                                                                     ": Mailbox", "IsEdgeServer : True"))
    status, out, _ = run_import(capsys, "exchange", edge)
    assert status == 0 and yaml.safe_load(out)["sender"]["preset"] == "exchange-edge"


def test_exchange_online_message_expiration(capsys, tmp_path):
    """Get-TransportConfig of Exchange Online: MessageExpiration selects exchange-online."""
    path = write(tmp_path, "tc.txt", "AddressBookPolicyRoutingEnabled : False\n"
                 "ExternalDelayDsnEnabled         : True\nMessageExpiration               : 12:00:00\n"
                 "SmtpClientAuthenticationDisabled : True\n")
    status, out, err = run_import(capsys, "exchange", path)
    assert status == 0, err
    assert yaml.safe_load(out)["sender"] == {"preset": "exchange-online", "MessageExpiration": "12:00:00"}
    assert same_trace(imported_sender(out),
                      get_preset("exchange-online").sender({"MessageExpiration": 12 * HOUR}))


# -- Bad input --------------------------------------------------------------------------------------
# (id, mta, file name, text, substrings of the error line besides the file)
BAD = [
    ("postfix-unparsable", "postfix", "main.cf", "myhostname = mx\n\nmaximal_queue_lifetime = 2 d\n",
     ["main.cf: line 3: maximal_queue_lifetime: expected a Postfix time", "'2 d'"]),
    ("postfix-out-of-range", "postfix", "main.cf", "maximal_queue_lifetime = 101d\n",
     ["line 1: maximal_queue_lifetime", "<= 100d (the MTA's own range)", "'101d'"]),
    ("postfix-min-above-max", "postfix", "main.cf", "minimal_backoff_time = 2000s\nmaximal_backoff_time = 1000s\n",
     ["line 2: maximal_backoff_time: expected maximal_backoff_time >= minimal_backoff_time"]),
    ("postfix-undefined-reference", "postfix", "main.cf", "queue_run_delay = $my_delay\n",
     ["line 1: queue_run_delay: $my_delay is not set"]),
    ("postfix-not-name-value", "postfix", "main.cf", "maximal_queue_lifetime 2d\n",
     ["line 1: expected 'name = value'"]),
    ("postfix-nothing-relevant", "postfix", "main.cf", "myhostname = mx\nbiff = no\n",
     ["no parameter of preset postfix found", "maximal_queue_lifetime"]),
    ("exim-bad-rule", "exim", "exim4.conf", "begin retry\n*  *  F,2h\n",
     ["exim4.conf: line 2: retry rule: expected F,<cutoff>,<interval>", "'F,2h'"]),
    ("exim-bare-number-time", "exim", "exim4.conf", "retry_interval_max = 90\n",
     ["line 1: retry_interval_max: expected an Exim time", "'90'"]),
    ("exim-out-of-range", "exim", "exim4.conf", "retry_interval_max = 2d\n",
     ["line 1: retry_interval_max", "<= 1d", "'2d'"]),
    ("exim-empty-retry-section", "exim", "exim4.conf", "begin retry\n\nbegin rewrite\n",
     ["line 1: begin retry: the retry section has no rules"]),
    ("exim-nothing-relevant", "exim", "exim4.conf", "primary_hostname = mx\nbegin routers\n",
     ["no parameter of preset exim found"]),
    ("exchange-unparsable", "exchange", "ts.txt", "Name : EX01\nMessageExpirationTimeout : 2 days\n",
     ["line 2: MessageExpirationTimeout: expected a TimeSpan", "'2 days'"]),
    ("exchange-out-of-range", "exchange", "ts.txt", "MessageExpirationTimeout : 91.00:00:00\n",
     ["line 1: MessageExpirationTimeout", "<= 90d (the MTA's own range)"]),
    ("exchange-online-out-of-range", "exchange", "tc.txt", "MessageExpiration : 2.00:00:00\n",
     ["line 1: MessageExpiration", ">= 12h and <= 1d"]),
    ("exchange-servers-disagree", "exchange", "ts.txt", "Name : EX01\nMessageExpirationTimeout : 2.00:00:00\n\n"
     "Name : EX02\nMessageExpirationTimeout : 3.00:00:00\n",
     ["line 5: MessageExpirationTimeout: EX02 has '3.00:00:00' but EX01 has '2.00:00:00'"]),
    ("exchange-not-format-list", "exchange", "ts.txt", "Name    MessageExpirationTimeout\n----    ---\n",
     ["line 1: expected 'Name : Value' lines"]),
    ("exchange-nothing-relevant", "exchange", "mbx.txt", "Name : alice\nPrimarySmtpAddress : a@example.org\n",
     ["no parameter of preset exchange-server found"]),
]


@pytest.mark.parametrize(("mta", "name", "text", "parts"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, mta, name, text, parts):
    """Unparsable, out-of-range or irrelevant input: one line naming file, line and parameter; exit 2."""
    path = write(tmp_path, name, text)
    status, out, err = run_import(capsys, mta, path)
    assert_one_line_error(status, out, err, f"mtasim: {path}", *parts)


def test_unreadable_files_are_one_line_and_exit_2(capsys, tmp_path):
    """A missing file, a directory and a non-UTF-8 file each give one line and exit 2."""
    missing = str(tmp_path / "nope.cf")
    assert_one_line_error(*run_import(capsys, "postfix", missing), f"mtasim: {missing}: no such file")
    assert_one_line_error(*run_import(capsys, "exim", str(tmp_path)), "it is a directory")
    binary = tmp_path / "main.cf"
    binary.write_bytes(b"maximal_queue_lifetime = \xff\xfe\n")
    assert_one_line_error(*run_import(capsys, "postfix", str(binary)), "cannot read the file")


def test_role_applies_to_exchange_only(capsys, tmp_path):
    """--role with postfix or exim is refused in one line."""
    path = write(tmp_path, "main.cf", "maximal_queue_lifetime = 2d\n")
    assert_one_line_error(*run_import(capsys, "postfix", path, "--role", "edge"), "applies to exchange only")
