"""The dashboard page at ``/``; everything live comes over the API and Socket.IO."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.context import web_context

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> str:
    ctx = web_context()
    config = {
        "profiles": ctx.profile_names,
        "profileCodecs": {p.name: p.codec for p in ctx.ladder},
        "flowerUrl": ctx.settings.flower_url,
        "tokenRequired": bool(ctx.settings.api_token),
        "maxUploadMb": ctx.settings.max_upload_mb,
        "uploadChunkMb": ctx.settings.upload_chunk_mb,
        "ladder": ctx.settings.ladder,
        "targetSsim": ctx.settings.target_ssim,
    }
    return render_template("index.html", config=config)
