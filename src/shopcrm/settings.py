"""Configuration, read from the environment (``SHOPCRM_*``) by pydantic-settings.

Everything that touches a disk or a server is derived from these values by
:func:`shopcrm.context.build_context`; nothing here connects to anything.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The knobs an operator sets; defaults give a working single-machine install."""

    model_config = SettingsConfigDict(env_prefix="SHOPCRM_", extra="ignore")

    home: Path = Field(
        default=Path("./shopcrm-data"),
        description="Data folder: SQLite database, Parquet facts, import rejects, logs.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the operational store; default a SQLite file in home.",
    )
    warehouse: str = Field(
        default="duckdb",
        description="Analytical engine over the Parquet facts: 'duckdb' (default).",
    )
    currency: str = Field(default="CNY", description="Shop currency (ISO 4217).")
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Shop time zone: export times without an offset are read in it.",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The operational store URL, defaulting to ``<home>/shopcrm.sqlite``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'shopcrm.sqlite'}"

    @property
    def facts_dir(self) -> Path:
        """Root of the append-only Parquet facts."""
        return self.home / "warehouse"

    @property
    def rejects_dir(self) -> Path:
        """Where each import writes the rows it rejected, with line and reason."""
        return self.home / "rejects"

    @property
    def staging_dir(self) -> Path:
        """Scratch space for transcoding and staged files (same disk as the facts)."""
        return self.home / "tmp"
