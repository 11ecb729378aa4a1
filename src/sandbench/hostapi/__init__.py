"""The platform's host capabilities (http, storage, database, log), granted from permissions and recorded."""

from __future__ import annotations

from .api import HostApi, HostSettings
from .codes import Code, HostResult
from .database import Database, DatabaseDenied, DatabaseFailed, Engine, SqliteEngine
from .http import FetchRequest, Http, HttpSettings, parse_fetch_request
from .log import Log
from .record import Activity, HostCall, LogLine, Recorder
from .serve import HostServer
from .storage import Storage

__all__ = [
    "Activity",
    "Code",
    "Database",
    "DatabaseDenied",
    "DatabaseFailed",
    "Engine",
    "FetchRequest",
    "HostApi",
    "HostCall",
    "HostResult",
    "HostServer",
    "HostSettings",
    "Http",
    "HttpSettings",
    "Log",
    "LogLine",
    "Recorder",
    "SqliteEngine",
    "Storage",
    "parse_fetch_request",
]
