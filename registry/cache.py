"""Per-process LRU of loaded and persist()ed predictors.

Loading a predictor and persisting its models in memory costs seconds; a
single-row prediction on a persisted one costs milliseconds. Entries are keyed
by version id and the hashes of its manifest and compiled boosters, so a
pruned or newly compiled version is loaded afresh, and are dropped when a
version is archived or deleted (in this process through ``drop``; in other
processes on their next use, because the version folder is gone).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings

from registry import acceleration, store
from registry.autogluon import Predictor
from registry.autogluon.shortcuts import Outcome


@dataclass
class Entry:
    predictor: Predictor
    # What each shortcut did when this predictor was loaded (shortcuts.ORDER).
    outcomes: tuple[Outcome, ...] = ()
    # AutoGluon predictors are not documented as thread-safe; one call at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)


class PredictorCache:
    def __init__(self, size: int | None = None) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, str], Entry] = OrderedDict()
        self._lock = threading.Lock()
        # One loader per key: two threads asking for the same cold version
        # load it once.
        self._loading: dict[tuple[int, str], threading.Lock] = {}

    @property
    def size(self) -> int:
        if self._size is not None:
            return self._size
        return max(1, int(settings.CONFIG.showroom.cache_size))

    def get(self, version) -> Entry:
        key = self._key(version)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            loader = self._loading.setdefault(key, threading.Lock())
        with loader:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    return entry
            try:
                predictor = store.load(version)
                predictor.persist()
                outcomes = acceleration.take_shortcuts(version, predictor)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            acceleration.record_outcomes(version, outcomes)
            entry = Entry(predictor, outcomes)
            with self._lock:
                self._drop_locked(version.pk)
                self._entries[key] = entry
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return entry

    @staticmethod
    def _key(version) -> tuple[int, str]:
        return (version.pk, f"{version.manifest_sha256}/{version.compiled_sha256}")

    def drop(self, version_id: int) -> bool:
        with self._lock:
            return self._drop_locked(version_id)

    def _drop_locked(self, version_id: int) -> bool:
        keys = [key for key in self._entries if key[0] == version_id]
        for key in keys:
            del self._entries[key]
        return bool(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def peek(self, version) -> Entry | None:
        """The loaded entry of this version, without loading it."""
        with self._lock:
            return self._entries.get(self._key(version))

    def __contains__(self, version) -> bool:
        with self._lock:
            return self._key(version) in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def loaded_ids(self) -> list[int]:
        with self._lock:
            return [key[0] for key in self._entries]


predictors = PredictorCache()


@dataclass(frozen=True)
class ShortcutReport:
    """What the version page says about a version's inference shortcuts."""

    outcomes: tuple[Outcome, ...]
    # "loaded in this process", or the process that recorded them last.
    where: str


def shortcut_report(version) -> ShortcutReport:
    """This process's outcomes when it holds the version loaded; otherwise
    those the last process to load it recorded on its lineage."""
    entry = predictors.peek(version)
    if entry is not None:
        return ShortcutReport(entry.outcomes, "loaded in this process")
    outcomes, source = acceleration.recorded_outcomes(version)
    where = ""
    if outcomes:
        where = (
            f"as loaded by process {source.get('pid')} on {source.get('host')} "
            f"at {source.get('at')}"
        )
    return ShortcutReport(outcomes, where)
