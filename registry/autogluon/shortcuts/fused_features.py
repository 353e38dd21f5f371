"""Shortcut: AutoGluon's default feature pipeline made in one pass.

The pipeline AutoGluon fits for numeric and categorical features (types as
trained, missing text filled, numbers as they are, text coded into the
trained categories, numbered 0..n-1) runs ten generators per call, each
copying or rebuilding the frame (cost: bench/RESULTS.md, "AutoGluon's feature
pipeline in one pass"). FusedFeatures makes the same columns directly, and
codes categorical inputs (a dispatch's text columns, dictionary-encoded by
Arrow) through their few categories instead of every row's string.

The only module that reads AutoGluon's feature generators (their fitted
private state) and replaces ``learner.transform_features``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from registry.autogluon.adapter import Predictor, numpy_frame
from registry.autogluon.shortcuts.outcome import Outcome

NAME = "fused_features"
logger = logging.getLogger(__name__)


def attach(predictor: Predictor, probes: list[pd.DataFrame]) -> Outcome:
    """Run the feature pipeline as FusedFeatures from now on, once it gives
    exactly AutoGluon's frame (columns, types, categories, values) on every
    probe."""
    if not probes:
        return Outcome.refused(NAME, "no probe rows to check it on")
    learner = predictor.tabular._learner
    try:
        fused = FusedFeatures.build(learner)
    except Refused as refused:
        return Outcome.refused(NAME, str(refused))
    for number, probe in enumerate(probes, 1):
        data = numpy_frame(probe)
        try:
            pd.testing.assert_frame_equal(
                fused(data), learner.transform_features(data), check_exact=True
            )
        except AssertionError as exc:
            first = str(exc).strip().splitlines()[0]
            return Outcome.refused(
                NAME, f"its frame differs from AutoGluon's on probe {number}: {first}"
            )
    learner.transform_features = fused
    return Outcome.took(NAME)


class Refused(Exception):
    """The pipeline holds something FusedFeatures does not do exactly; the
    message says what."""


@dataclass(frozen=True)
class _Recipe:
    """How one column AutoGluon's feature pipeline gives is made from one
    input column: missing values filled (FillNa), coded into the trained
    categories (Category) and those renamed 0..n-1 (CategoryMemoryMinimize)."""

    source: str
    fill: Any = None
    categories: pd.Index | None = None
    renamed: pd.Index | None = None


class FusedFeatures:
    """AutoGluon's default feature pipeline in one pass over the columns.

    Built only from a pipeline of the generator types it knows, read from
    their fitted state (`build`, else Refused with the reason). A call whose
    columns are not of the trained types goes to AutoGluon's own pipeline.
    """

    def __init__(
        self,
        features_in: list[str],
        dtypes: dict[str, np.dtype],
        recipes: dict[str, _Recipe],
        fallback: Callable[[pd.DataFrame], pd.DataFrame],
    ) -> None:
        self.features_in = features_in
        self.dtypes = dtypes
        self.recipes = recipes
        self.fallback = fallback
        coded = {r.source for r in recipes.values() if r.categories is not None}
        # Inputs that may come as categoricals of text: those only coded.
        self.coded = coded - {
            r.source for r in recipes.values() if r.categories is None
        }
        self.missing_code = {
            name: (
                int(r.categories.get_indexer([r.fill])[0]) if r.fill is not None else -1
            )
            for name, r in recipes.items()
            if r.categories is not None
        }

    @classmethod
    def build(cls, learner) -> FusedFeatures:
        """From a fitted learner's feature pipeline; Refused when it holds a
        generator (or a setting) this does not do exactly."""
        try:
            return cls._build(learner)
        except Refused:
            raise
        except Exception as exc:  # AutoGluon's internals changed
            logger.warning("AutoGluon's feature pipeline not read", exc_info=True)
            raise Refused(
                f"AutoGluon's feature pipeline could not be read: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    @classmethod
    def _build(cls, learner) -> FusedFeatures:
        from autogluon.features.generators import (  # AutoGluon imports slowly
            AsTypeFeatureGenerator,
            BulkFeatureGenerator,
            CategoryFeatureGenerator,
            DropDuplicatesFeatureGenerator,
            DropUniqueFeatureGenerator,
            FillNaFeatureGenerator,
            IdentityFeatureGenerator,
        )

        steps = {
            AsTypeFeatureGenerator: _types_step,
            FillNaFeatureGenerator: _fill_step,
            IdentityFeatureGenerator: _same_step,
            DropUniqueFeatureGenerator: _same_step,
            DropDuplicatesFeatureGenerator: _same_step,
            CategoryFeatureGenerator: _category_step,
        }
        generators = list(learner.feature_generators)
        _require(
            len(generators) == 1,
            f"AutoGluon's learner has {len(generators)} feature pipelines, not one",
        )
        pipeline = generators[0]
        _require(
            isinstance(pipeline, BulkFeatureGenerator),
            f"AutoGluon's pipeline is a {type(pipeline).__name__}, "
            "not a BulkFeatureGenerator",
        )
        _simple(pipeline)
        _require(bool(pipeline.features_in), "AutoGluon's pipeline takes no features")
        recipes = {name: _Recipe(name) for name in pipeline.features_in}
        dtypes: dict[str, np.dtype] = {}  # AsType's, the pipeline's first step
        for stage in pipeline.generators:
            made: dict[str, _Recipe] = {}
            for generator in stage:
                kind = type(generator).__name__
                step = steps.get(type(generator))  # exact types, no subclass
                _require(
                    step is not None,
                    "AutoGluon's pipeline has a generator FusedFeatures does not "
                    f"know: {kind}",
                )
                taken = {name: recipes[name] for name in generator.features_in}
                out = step(generator, taken, dtypes)
                _require(
                    list(out) == list(generator.features_out),
                    f"{kind} gives other columns than FusedFeatures would make",
                )
                _require(
                    not set(out) & set(made),
                    f"{kind} makes a column another generator of its stage makes",
                )
                made.update(out)
            recipes = made
        _require(
            set(dtypes) == set(pipeline.features_in),
            "AutoGluon's pipeline does not begin by setting every input's type",
        )
        _require(
            list(recipes) == list(pipeline.features_out),
            "AutoGluon's pipeline gives other columns than FusedFeatures would make",
        )
        return cls(
            list(pipeline.features_in),
            {name: np.dtype(dtype) for name, dtype in dtypes.items()},
            recipes,
            learner.transform_features,
        )

    def __call__(self, data: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for name in self.features_in:
            column = data.get(name)
            if not isinstance(column, pd.Series) or not self._trained_type(
                name, column.dtype
            ):
                return self.fallback(data)
            columns[name] = column
        made = {}
        for name, recipe in self.recipes.items():
            column = columns[recipe.source]
            if recipe.categories is not None:
                made[name] = self._coded(name, recipe, column)
            elif recipe.fill is not None:
                made[name] = column.fillna(recipe.fill).to_numpy()
            else:
                made[name] = column.to_numpy()
        return pd.DataFrame(made, index=data.index)

    def _trained_type(self, name: str, dtype) -> bool:
        if dtype == self.dtypes[name]:
            return True
        # Categoricals of text are the object column AutoGluon would make
        # of them (astype(object)), for inputs that are only coded.
        return (
            name in self.coded
            and isinstance(dtype, pd.CategoricalDtype)
            and dtype.categories.inferred_type in ("string", "empty")
        )

    def _coded(self, name: str, recipe: _Recipe, column: pd.Series) -> pd.Categorical:
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Each input category's trained code, then one take per row;
            # the last entry is for missing values (code -1).
            table = np.append(
                recipe.categories.get_indexer(column.cat.categories),
                self.missing_code[name],
            )
            codes = table[column.cat.codes.to_numpy()]
        else:
            if recipe.fill is not None:
                column = column.fillna(recipe.fill)
            codes = pd.Categorical(column, categories=recipe.categories).codes
        return pd.Categorical.from_codes(
            codes, dtype=pd.CategoricalDtype(recipe.renamed)
        )


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Refused(reason)


def _simple(generator, posts: int = 0) -> None:
    """No passthrough, no type step of its own, at most `posts` post-steps."""
    kind = type(generator).__name__
    _require(
        not (generator.passthrough and generator.passthrough_features),
        f"{kind} passes features through",
    )
    _require(generator._pre_astype_generator is None, f"{kind} sets types of its own")
    _require(
        len(generator._post_generators or []) <= posts,
        f"{kind} has more post-generators than FusedFeatures knows",
    )
    _require(
        all(isinstance(f, str) for f in generator.features_in),
        f"{kind} has features not named by text",
    )


def _text(recipe: _Recipe, dtypes: dict) -> bool:
    """An input trained as text (object), not coded into categories yet."""
    return dtypes.get(recipe.source) == np.dtype(object) and recipe.categories is None


def _types_step(generator, taken: dict, dtypes: dict) -> dict:
    # Types as trained: checked per call (FusedFeatures._trained_type).
    _simple(generator)
    _require(not dtypes, "AutoGluon's pipeline sets types twice")
    _require(
        not len(generator._bool_features),
        "AsTypeFeatureGenerator turns columns into booleans",
    )
    _require(
        all(recipe.source == name for name, recipe in taken.items()),
        "AsTypeFeatureGenerator is not the pipeline's first step",
    )
    dtypes.update(generator._type_map_real_opt)
    return taken


def _same_step(generator, taken: dict, dtypes: dict) -> dict:
    # Identity; the drops dropped their columns when fitted.
    _simple(generator)
    return taken


def _fill_step(generator, taken: dict, dtypes: dict) -> dict:
    _simple(generator)
    fills = generator._fillna_feature_map or {}
    out = {}
    for name, recipe in taken.items():
        if name in fills:
            value = fills[name]
            _require(
                _text(recipe, dtypes) and recipe.fill is None,
                f"FillNaFeatureGenerator fills {name!r}, which is not text",
            )
            _require(
                isinstance(value, str),
                f"FillNaFeatureGenerator fills {name!r} with a non-text value",
            )
            recipe = _Recipe(recipe.source, fill=value)
        out[name] = recipe
    return out


def _category_step(generator, taken: dict, dtypes: dict) -> dict:
    from autogluon.features.generators.memory_minimize import (  # imports slowly
        CategoryMemoryMinimizeFeatureGenerator,
    )

    _simple(generator, posts=1)
    posts = generator._post_generators or []
    for post in posts:  # the categories renamed 0..n-1
        _require(
            type(post) is CategoryMemoryMinimizeFeatureGenerator,
            "CategoryFeatureGenerator has a post-generator FusedFeatures does not "
            f"know: {type(post).__name__}",
        )
        _simple(post)
        _require(
            post.features_in == generator.features_out,
            "CategoryMemoryMinimizeFeatureGenerator takes other columns",
        )
    category_map = generator.category_map or {}
    _require(
        bool(generator._stateful_categories),
        "CategoryFeatureGenerator keeps no trained categories",
    )
    _require(
        generator._fillna_map is None,
        "CategoryFeatureGenerator fills missing categories (FusedFeatures does not)",
    )
    _require(
        list(category_map) == list(generator.features_in),
        "CategoryFeatureGenerator's categories are not those of its columns",
    )
    out = {}
    for name, recipe in taken.items():
        _require(
            _text(recipe, dtypes),
            f"CategoryFeatureGenerator codes {name!r}, which is not text",
        )
        categories = pd.Index(category_map[name])
        renamed = pd.Index(posts[0]._category_maps[name]) if posts else categories
        _require(
            len(renamed) == len(categories),
            f"the renamed categories of {name!r} are not as many as trained",
        )
        out[name] = _Recipe(recipe.source, recipe.fill, categories, renamed)
    return out
