"""The Celery app ``celery -A cli.flower_app flower`` loads (what ``ffcluster up --flower`` runs).

Celery finds an app only as a module attribute, so this entry module builds it from the
``FFCLUSTER_*`` environment when imported: Flower then gets ffcluster's own broker settings,
a ``redis+sentinel://`` URL included, and no secret is ever on its command line.
"""

from __future__ import annotations

from celery import Celery

from common.celery_config import celery_config
from common.settings import Settings

app = Celery("ffcluster-flower", set_as_current=True)
app.conf.update(celery_config(Settings.from_env()))
