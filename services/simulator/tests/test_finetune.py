"""Files and fine-tuning jobs, OpenAI-shaped, through the official client."""

from __future__ import annotations

import json
import time

import pytest
from openai import BadRequestError, NotFoundError, OpenAI
from openai.types.fine_tuning import FineTuningJob


def training_file(examples: int = 10) -> bytes:
    lines = [
        {
            "messages": [
                {"role": "system", "content": "You review contracts."},
                {"role": "user", "content": f"Is clause {i} a liability cap?"},
                {"role": "assistant", "content": "Yes, it limits liability to fees paid."},
            ]
        }
        for i in range(examples)
    ]
    return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"


def wait_for(client: OpenAI, job_id: str, timeout: float = 5.0) -> tuple[FineTuningJob, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {seen[-1]} after {timeout}s")


def test_upload_validates_jsonl_and_names_the_bad_line(client: OpenAI) -> None:
    uploaded = client.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.status == "processed"
    assert uploaded.bytes == len(training_file())
    assert client.files.retrieve(uploaded.id).filename == "train.jsonl"
    bad = training_file(3) + b'{"messages": [{"role": "user", "content": "no answer"}]}\n'
    with pytest.raises(BadRequestError) as no_assistant:
        client.files.create(file=("bad.jsonl", bad), purpose="fine-tune")
    assert "line 4" in no_assistant.value.message
    assert "assistant" in no_assistant.value.message
    with pytest.raises(BadRequestError) as not_json:
        client.files.create(file=("bad.jsonl", b'{"messages": [}\n'), purpose="fine-tune")
    assert "line 1" in not_json.value.message
    with pytest.raises(BadRequestError):
        client.files.create(file=("train.csv", training_file()), purpose="fine-tune")
    with pytest.raises(NotFoundError):
        client.files.retrieve("file-missing")


def test_job_runs_to_succeeded_and_the_model_answers(client: OpenAI) -> None:
    uploaded = client.files.create(file=("train.jsonl", training_file(12)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        training_file=uploaded.id,
        model="gpt-4o-mini",
        suffix="contracts",
        hyperparameters={"n_epochs": 2},
    )
    assert job.status == "validating_files"
    assert job.fine_tuned_model is None
    model = f"ft:gpt-4o-mini:modality-sim:contracts:{job.id.removeprefix('ftjob-')[:8]}"
    with pytest.raises(NotFoundError):  # not callable before the job succeeds
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])

    done, seen = wait_for(client, job.id)
    assert seen[-1] == "succeeded"
    assert seen == sorted(
        set(seen), key=["validating_files", "queued", "running", "succeeded"].index
    )
    assert "running" in seen
    assert done.fine_tuned_model == model
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.hyperparameters.n_epochs == 2
    assert done.finished_at is not None

    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Is clause 3 a liability cap?"}]
    )
    assert answer.model == model and answer.choices[0].message.content
    assert model in {m.id for m in client.models.list()}

    events = client.fine_tuning.jobs.list_events(job.id, limit=50).data
    messages = [e.message for e in events]
    assert messages[0] == "The job has successfully completed"  # newest first
    assert messages[-1] == f"Created fine-tuning job: {job.id}"
    assert any(e.type == "metrics" for e in events)
    assert job.id in {j.id for j in client.fine_tuning.jobs.list(limit=100).data}


def test_failure_header_fails_the_job(client: OpenAI) -> None:
    uploaded = client.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        training_file=uploaded.id,
        model="gpt-4o-mini",
        extra_headers={"x-sim-finetune-fail": "1"},
    )
    done, seen = wait_for(client, job.id)
    assert done.status == "failed" and "running" in seen
    assert done.error is not None and done.error.code == "simulated_failure"
    assert done.fine_tuned_model is None


def test_too_few_examples_fail_validation(client: OpenAI) -> None:
    uploaded = client.files.create(file=("small.jsonl", training_file(3)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model="gpt-4o-mini")
    done, seen = wait_for(client, job.id)
    assert seen == ["validating_files", "failed"]
    assert done.error is not None and done.error.code == "invalid_n_examples"


def test_cancel(client: OpenAI) -> None:
    uploaded = client.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model="gpt-4o-mini")
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    time.sleep(0.9)  # past the time it would have finished (0.8 s)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_bad_job_requests(client: OpenAI) -> None:
    with pytest.raises(BadRequestError) as missing_file:
        client.fine_tuning.jobs.create(training_file="file-nope", model="gpt-4o-mini")
    assert missing_file.value.param == "training_file"
    uploaded = client.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
    with pytest.raises(BadRequestError) as bad_epochs:
        client.fine_tuning.jobs.create(
            training_file=uploaded.id, model="gpt-4o-mini", hyperparameters={"n_epochs": 0}
        )
    assert bad_epochs.value.param == "hyperparameters.n_epochs"
    with pytest.raises(NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
