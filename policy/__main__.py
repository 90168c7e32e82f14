"""Entry point of the CrossGuard policy pack: `pulumi preview --policy-pack policy`."""

import os
import sys

# The CLI runs this directory as a program; make the rules package importable however it is started.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from logagg_policy.policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="log-aggregator-security",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
