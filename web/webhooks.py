"""Hand webhook deliveries to the workers; signing, POSTing and retrying happen there."""

from __future__ import annotations

import logging

from common import tasknames
from common.jobs import Job
from web.context import WebContext

log = logging.getLogger(__name__)


def enqueue_webhook(ctx: WebContext, job: Job) -> bool:
    """Queue one delivery of the job JSON when a webhook URL is configured; never raise."""
    if not ctx.settings.webhook_url:
        return False
    try:
        ctx.producer.send_task(
            tasknames.SEND_WEBHOOK, args=[job.to_dict()], queue=tasknames.QUEUE_CPU
        )
    except Exception:  # a webhook must never fail the user's request
        log.warning("could not enqueue the webhook for job %s", job.id, exc_info=True)
        return False
    return True
