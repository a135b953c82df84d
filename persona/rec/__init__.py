"""Sequential recommendation: sequences, SASRec with persona token, two-stage retrieval, evaluation.

Works on plain DataFrames and arrays; the CLI reads the interactions and vectors from the graph store
and hands them over. Main entry points:

* :class:`Interactions` (``Interactions.from_frame(df)``), :func:`split_sessions`, :func:`leave_one_out`
* :class:`SASRec` (the ``nn.Module``) and :class:`SASRecRecommender` (fit / score / recommend)
* :func:`evaluate` (full-catalogue HR@K / NDCG@K / MRR, sampled-100 secondary)
* :func:`run_two_stage` (a :class:`TwoStageRun`), :class:`TwoStageRecommender` (retriever + reranker), both
  ordering candidates by :func:`rerank`
* :func:`random_search` (the paper's hyperparameter grid), :func:`run_experiment` (Table 3)
"""

from .evaluate import evaluate, metrics_from_ranks, rank_targets
from .experiment import TABLE3_VARIANTS, run_experiment
from .model import SASRecRecommender
from .pipeline import TwoStageMetrics, TwoStageRecommender, TwoStageRun, evaluate_two_stage, run_two_stage
from .rerank import Reranked, rerank, two_stage_ranks
from .sasrec import SASRec
from .search import PAPER_SPACE, SearchResult, random_search
from .sequences import EvalSet, Interactions, pad_left
from .splits import leave_one_out, split_sessions

__all__ = [
    "PAPER_SPACE",
    "TABLE3_VARIANTS",
    "EvalSet",
    "Interactions",
    "Reranked",
    "SASRec",
    "SASRecRecommender",
    "SearchResult",
    "TwoStageMetrics",
    "TwoStageRecommender",
    "TwoStageRun",
    "evaluate",
    "evaluate_two_stage",
    "leave_one_out",
    "metrics_from_ranks",
    "pad_left",
    "random_search",
    "rank_targets",
    "rerank",
    "run_experiment",
    "run_two_stage",
    "split_sessions",
    "two_stage_ranks",
]
