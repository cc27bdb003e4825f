"""The ladder options of a job (fixed or per-title, target SSIM) through every way in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.workers import RecordingProducer
from tests.web.helpers import upload


def test_a_per_title_upload_records_its_ladder_and_the_default_target(
        client: FlaskClient) -> None:
    job = upload(client, ladder="per-title").get_json()
    assert (job["ladder"], job["target_ssim"], job["per_title"]) == ("per-title", 0.98, None)
    plain = upload(client).get_json()
    assert (plain["ladder"], plain["target_ssim"]) == ("fixed", None)
    asked = upload(client, ladder="Per-Title", target_ssim="0.955").get_json()
    assert (asked["ladder"], asked["target_ssim"]) == ("per-title", 0.955)
    implied = upload(client, target_ssim="0.96").get_json()  # a target asks for per-title
    assert (implied["ladder"], implied["target_ssim"]) == ("per-title", 0.96)
    fixed = upload(client, ladder="fixed", target_ssim="0.96").get_json()  # named: fixed wins
    assert (fixed["ladder"], fixed["target_ssim"]) == ("fixed", None)


def test_the_cluster_default_ladder_and_target_come_from_the_settings(
        make_app: Any) -> None:
    app: Flask = make_app(ladder="per-title", target_ssim=0.97)
    job = upload(app.test_client()).get_json()
    assert (job["ladder"], job["target_ssim"]) == ("per-title", 0.97)
    fixed = upload(app.test_client(), ladder="fixed").get_json()
    assert fixed["ladder"] == "fixed"


def test_a_url_job_takes_the_target_as_a_json_number(client: FlaskClient) -> None:
    body = {"source_url": "https://example.com/a.mp4", "ladder": "per-title",
            "target_ssim": 0.96}
    response = client.post("/api/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202 and response.get_json()["target_ssim"] == 0.96
    body["target_ssim"] = "0.96"
    refused = client.post("/api/jobs", data=json.dumps(body), content_type="application/json")
    assert refused.status_code == 400 and "'target_ssim'" in refused.get_json()["error"]


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"ladder": "adaptive"}, "ladder must be 'fixed' or 'per-title'"),
    ({"ladder": "per-title", "target_ssim": "1"}, "under 1"),
    ({"ladder": "per-title", "target_ssim": "0.2"}, "at least 0.5"),
    ({"ladder": "per-title", "target_ssim": "nan"}, "at least 0.5"),
    ({"ladder": "per-title", "target_ssim": "high"}, "a number such as 0.98"),
])
def test_bad_ladder_options_get_a_400_sentence_and_nothing_is_enqueued(
        client: FlaskClient, producer: RecordingProducer, fields: dict[str, str],
        sentence: str) -> None:
    response = upload(client, **fields)
    assert response.status_code == 400 and sentence in response.get_json()["error"]
    assert producer.sent == []
