"""Which Argo version has which field: one table, read from Argo's own JSON schemas.

FIELDS was taken by comparing `api/jsonschema/schema.json` of argo-workflows v3.5.15,
v3.6.19, v3.7.18, v4.0.10 and v4.1.2 (the property sets of each workflow definition);
status-only definitions are left out because users do not write them. The shipped schema is
v4.1's; for an older --argo-version the fields added later are removed from it and the ones
removed since are put back.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSIONS = ("3.5", "3.6", "3.7", "4.0", "4.1")
DEFAULT = "4.1"


@dataclass(frozen=True)
class Field:
    """A field of an Argo definition that exists only from `added` and until before `removed`."""

    definition: str  # io.argoproj.workflow.v1alpha1.<definition>
    name: str
    added: str = "3.5"
    removed: str | None = None


FIELDS = (
    Field("ContainerNode", "resizePolicy", added="3.6"),
    Field("ContainerNode", "restartPolicy", added="3.6"),
    Field("CronWorkflowSpec", "schedules", added="3.6"),
    Field("CronWorkflowSpec", "stopStrategy", added="3.6"),
    Field("CronWorkflowSpec", "when", added="3.6"),
    Field("GitArtifact", "insecureSkipTLS", added="3.6"),
    Field("HDFSArtifact", "dataTransferProtection", added="3.6"),
    Field("S3Artifact", "sessionTokenSecret", added="3.6"),
    Field("ScriptTemplate", "resizePolicy", added="3.6"),
    Field("ScriptTemplate", "restartPolicy", added="3.6"),
    Field("Synchronization", "mutexes", added="3.6"),
    Field("Synchronization", "semaphores", added="3.6"),
    Field("UserContainer", "resizePolicy", added="3.6"),
    Field("UserContainer", "restartPolicy", added="3.6"),
    Field("Backoff", "cap", added="3.7"),
    Field("Mutex", "database", added="3.7"),
    Field("SemaphoreRef", "database", added="3.7"),
    Field("Template", "annotations", added="3.7"),
    Field("Template", "priority", removed="3.7"),
    Field("WorkflowSpec", "podPriority", removed="3.7"),
    Field("Artifact", "plugin", added="4.0"),
    Field("ArtifactLocation", "plugin", added="4.0"),
    Field("ArtifactPaths", "plugin", added="4.0"),
    Field("CronWorkflowSpec", "schedule", removed="4.0"),
    Field("Link", "target", added="4.0"),
    Field("Synchronization", "mutex", removed="4.0"),
    Field("Synchronization", "semaphore", removed="4.0"),
    Field("ContainerNode", "restartPolicyRules", added="4.1"),
    Field("HTTPArtifact", "saveStreamViaFile", added="4.1"),
    Field("S3Artifact", "addressingStyle", added="4.1"),
    Field("ScriptTemplate", "restartPolicyRules", added="4.1"),
    Field("Template", "pendingTimeout", added="4.1"),
    Field("Template", "podResources", added="4.1"),
    Field("Template", "resourceClaims", added="4.1"),
    Field("UserContainer", "restartPolicyRules", added="4.1"),
    Field("WorkflowSpec", "executorPlugins", added="4.1"),
    Field("WorkflowSpec", "podResources", added="4.1"),
    Field("WorkflowSpec", "resourceClaims", added="4.1"),
)

# fields whose type changed: (definition, field, the type before, the version that changed it)
RETYPED = (
    # v4.0 made the memoization cache a LocalObjectReference (a `key` is no longer taken)
    ("Cache", "configMap", "io.k8s.api.core.v1.ConfigMapKeySelector", "4.0"),
)

# Rules of validate.go that differ by version, and the first version that has each:
# - CronWorkflow: 3.5 has only `schedule`; 3.6 and 3.7 take `schedule` or `schedules` but not
#   both ("cron workflow cant be configured with both Spec.Schedule and Spec.Schedules");
#   4.0 drops `schedule` and needs `schedules` ("cron workflow must have at least one schedule").
RULES = {
    "schedules-required": "4.0",
    # isValidStepName: a step name built from an input (`run-{{inputs.parameters.d}}`) is
    # checked with the input as 'x'; before, the validation placeholder made it invalid
    "step-name-placeholders": "4.0",
    # sidecars and containerSet containers may not be named wait, supervisor, artifact-plugin-*
    "reserved-container-names": "4.1",
}


def applies(rule: str, version: str) -> bool:
    """Whether Argo `version` has a rule of RULES."""
    return key(version) >= key(RULES[rule])


def key(version: str) -> tuple[int, int]:
    """A version as a comparable pair."""
    major, minor = version.split(".")
    return int(major), int(minor)


def has(field: Field, version: str) -> bool:
    """Whether `field` exists in Argo `version`."""
    v = key(version)
    return key(field.added) <= v and (field.removed is None or v < key(field.removed))


def why_unknown(definition: str, name: str, version: str) -> str | None:
    """For a field unknown in `version` that another version has, the version that has it."""
    for field in FIELDS:
        if field.definition == definition and field.name == name and not has(field, version):
            if key(version) < key(field.added):
                return f"'{name}' is new in Argo {field.added} (checked for {version})"
            return f"'{name}' was removed in Argo {field.removed} (checked for {version})"
    return None
