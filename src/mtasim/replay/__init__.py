"""Replaying a real mail log: parse it, reconstruct messages and outages, re-run the incident.

``mtasim replay postfix|exim|exchange LOG... --out DIR`` (mtasim.replay.command). Modules: ``events``
(the parsed record), ``source`` (files, gzip, merging), ``timestamps``, one parser per program
(``postfix``, ``exim``, ``exchange``), ``reconstruct`` (messages and outages), ``incident`` (the
scenario), ``predict`` (the simulator against the log), ``whatif`` (other senders and settings).
"""

from .command import REPLAY_FILES, add_replay_parser, cmd_replay, read_logs
from .reconstruct import Message, Outage, Reconstruction, reconstruct

__all__ = ["add_replay_parser", "cmd_replay", "read_logs", "reconstruct", "Reconstruction", "Message", "Outage",
           "REPLAY_FILES"]
