"""A topic map: a period's papers clustered by their embeddings, each cluster labelled by
its most telling terms and placed on a plane by the principal components of the centroids.

Labels use class-based tf-idf (Grootendorst, "BERTopic", 2022): a term's frequency in a
cluster times log(1 + average cluster length / the term's frequency over all clusters), so
a label names what sets a cluster apart, not what every paper says.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import CountVectorizer

from paperfeed.embed.model import paper_text
from paperfeed.errors import InputError
from paperfeed.models import Paper, SearchFilters
from paperfeed.store import Store

SHOWN_PER_TOPIC = 12


@dataclass
class Topic:
    id: int
    terms: list[str]
    size: int
    x: float  # in [0, 1]
    y: float
    papers: list[Paper]  # nearest the cluster's centre first

    @property
    def label(self) -> str:
        return ", ".join(self.terms[:3])


@dataclass
class TopicMap:
    since: str | None
    until: str | None
    papers: int
    topics: list[Topic]

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "papers": self.papers,
            "topics": [
                {
                    "id": t.id,
                    "label": t.label,
                    "terms": t.terms,
                    "size": t.size,
                    "x": round(t.x, 4),
                    "y": round(t.y, 4),
                    "papers": [{"id": p.ref, "title": p.display_title} for p in t.papers],
                }
                for t in self.topics
            ],
        }


_cache: OrderedDict[Any, TopicMap] = OrderedDict()
_lock = threading.Lock()


def topic_map(
    store: Store,
    model: str,
    filters: SearchFilters,
    topics: int = 0,
    within: Sequence[int] | None = None,
) -> TopicMap:
    """Cluster the papers the filters let through, or only those ``within`` (a profile's
    neighbourhood); cached while the embedded papers among them are the same (a map drawn
    while the store was being embedded is drawn again once more papers have vectors)."""
    ids = store.filter_ids(filters)
    if within is not None:
        ids = np.intersect1d(ids, np.asarray(sorted(within), dtype=np.int64))
    found, vectors = store.vectors_for(model, [int(i) for i in ids])
    key = (model, filters, topics, len(found), hash(found.tobytes()))
    with _lock:
        if key in _cache:
            return _cache[key]
    if len(found) < 10:
        raise InputError("too few embedded papers in that period to draw a map")
    result = _build(store, found, vectors, filters, topics)
    with _lock:
        _cache[key] = result
        while len(_cache) > 16:
            _cache.popitem(last=False)
    return result


def _build(
    store: Store, ids: np.ndarray, vectors: np.ndarray, filters: SearchFilters, topics: int
) -> TopicMap:
    n = len(ids)
    k = topics or int(np.clip(np.sqrt(n / 4), 4, 30))
    centred = vectors - vectors.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True) + 1e-9
    km = KMeans(n_clusters=k, n_init=3, random_state=0).fit(centred)
    papers = store.papers([int(i) for i in ids])
    texts = [paper_text(p.title, p.abstract) for p in papers]
    counts = CountVectorizer(stop_words="english", ngram_range=(1, 2), min_df=3, max_df=0.3)
    matrix = counts.fit_transform(texts)
    names = counts.get_feature_names_out()
    per_cluster = np.vstack(
        [np.asarray(matrix[km.labels_ == c].sum(axis=0)).ravel() for c in range(k)]
    ).astype(np.float64)
    tf = per_cluster / np.maximum(per_cluster.sum(axis=1, keepdims=True), 1)
    idf = np.log1p(per_cluster.sum(axis=1).mean() / np.maximum(per_cluster.sum(axis=0), 1))
    ctfidf = tf * idf
    # A plane for the centroids: their first two principal components, scaled to [0, 1].
    centres = km.cluster_centers_ - km.cluster_centers_.mean(axis=0)
    _, _, vt = np.linalg.svd(centres, full_matrices=False)
    xy = centres @ vt[:2].T
    xy = (xy - xy.min(axis=0)) / np.maximum(np.ptp(xy, axis=0), 1e-9)
    result: list[Topic] = []
    for c in np.argsort(-np.bincount(km.labels_, minlength=k)):
        rows = np.flatnonzero(km.labels_ == c)
        nearest = rows[np.argsort(-(centred[rows] @ km.cluster_centers_[c]))][:SHOWN_PER_TOPIC]
        terms = [str(names[t]) for t in np.argsort(-ctfidf[c])[:6]]
        result.append(
            Topic(
                len(result),
                terms,
                len(rows),
                float(xy[c, 0]),
                float(xy[c, 1]),
                [papers[i] for i in nearest],
            )
        )
    return TopicMap(filters.since, filters.until, n, result)
