"""Answers of the create-only review kinds a kapi server has one user for.

A kapi server knows one identity: whoever holds its token (or anyone, without one).
So ``SelfSubjectAccessReview`` (``kubectl auth can-i``) is always allowed,
``SelfSubjectRulesReview`` (``kubectl auth can-i --list``) grants everything, and
``SelfSubjectReview`` (``kubectl auth whoami``) names that user.  Nothing is stored:
each answer is the request with its ``status`` filled in.  Pure.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

USER = {"username": "kubernetes-admin",
        "groups": ["kubeadm:cluster-admins", "system:authenticated"]}
REASON = "a kapi server has a single user, who may do anything"


def _answer(body: Obj, status: Obj) -> Obj:
    answer = copy.deepcopy(body)
    answer.setdefault("metadata", {})
    answer["status"] = status
    return answer


def access_review(body: Obj) -> Obj:
    """SelfSubjectAccessReview: allowed."""
    return _answer(body, {"allowed": True, "reason": REASON})


def rules_review(body: Obj) -> Obj:
    """SelfSubjectRulesReview: every verb on every resource and URL."""
    return _answer(body, {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False})


def self_review(body: Obj) -> Obj:
    """SelfSubjectReview: the server's one user."""
    return _answer(body, {"userInfo": copy.deepcopy(USER)})
