"""Notifications: channels (webhook, Slack, email), the versioned message, the notifier service.

``Notifier`` (``service``) keeps alert state (``nbpipe.ops.alerts``) and sends through the
channels of ``nbpipe.yaml`` (``channels``); ``message`` renders one notification per channel kind.
"""

from nbpipe.ops.notify.channels import Channel, all_channels, channels, safe_target
from nbpipe.ops.notify.message import SCHEMA, Notification
from nbpipe.ops.notify.service import ENV_ORCHESTRATOR, Notifier, run_observer

__all__ = ["ENV_ORCHESTRATOR", "SCHEMA", "Channel", "Notification", "Notifier", "all_channels", "channels",
           "run_observer", "safe_target"]
