"""Offline packaging checks of template.yaml and infra/samconfig.toml (docs/deploy.md §2).

    python infra/lib/package_check.py template.yaml infra/samconfig.toml

What `sam build` / `sam deploy` would only find out later, or what cfn-lint does not check:

- every function is built by the rust-cargolambda method from a crate under functions/;
- every function writes to a log group of the template (LoggingConfig.LogGroup), named
  /aws/lambda/<its FunctionName>, whose retention is the LogRetentionDays parameter;
- every dead-letter queue (a queue named by another queue's RedrivePolicy) has an alarm on
  ApproximateNumberOfMessagesVisible that notifies someone, and the HTTP API has a 5xx alarm;
- the samconfig parses, has the staging and production environments with the beta features
  the build method needs, distinct stack names, and parameter overrides that name existing
  template parameters with values the parameters accept.

Needs PyYAML (cfn-lint brings it into .local/venv) and Python 3.11 (tomllib). Prints one
line per problem and exits 1 when there is any; prints a one-line summary otherwise.
"""

import os
import shlex
import sys
import tomllib

import yaml

PROFILES = ("staging", "production")


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short-form tags as their long forms."""


def _construct_tag(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def sub_text(value):
    """The format string of a `!Sub` (or a plain string), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def getatt(value):
    """(resource, attribute) of a `!GetAtt`, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return (target[0], target[1]) if len(target) == 2 else None
    return None


def check_template(template, root, problems):
    resources = template.get("Resources", {})
    by_type = {}
    for name, res in resources.items():
        by_type.setdefault(res.get("Type"), []).append(name)
    functions = by_type.get("AWS::Serverless::Function", []) + by_type.get("AWS::Lambda::Function", [])
    if not functions:
        problems.append("template: no functions")
    for fn in functions:
        res = resources[fn]
        meta = res.get("Metadata", {})
        props = res.get("Properties", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{fn}: Metadata.BuildMethod is not rust-cargolambda")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if not binary or not os.path.isfile(os.path.join(root, "functions", binary, "Cargo.toml")):
            problems.append(f"{fn}: BuildProperties.Binary {binary!r} is not a crate under functions/")
        group = props.get("LoggingConfig", {}).get("LogGroup")
        group_name = group.get("Ref") if isinstance(group, dict) else None
        if group_name not in resources or resources[group_name].get("Type") != "AWS::Logs::LogGroup":
            problems.append(f"{fn}: LoggingConfig.LogGroup is not a !Ref to a log group of the template")
            continue
        group_props = resources[group_name].get("Properties", {})
        fn_name = sub_text(props.get("FunctionName"))
        if fn_name is None or sub_text(group_props.get("LogGroupName")) != f"/aws/lambda/{fn_name}":
            problems.append(f"{fn}: its log group {group_name} is not named /aws/lambda/<its FunctionName>")
        if group_props.get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problems.append(f"{group_name}: RetentionInDays is not !Ref LogRetentionDays")

    alarms = [resources[a].get("Properties", {}) for a in by_type.get("AWS::CloudWatch::Alarm", [])]
    dead_letter_queues = set()
    for q in by_type.get("AWS::SQS::Queue", []):
        target = getatt(resources[q].get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        if target:
            dead_letter_queues.add(target[0])
    if not dead_letter_queues:
        problems.append("template: no dead-letter queues")
    for dlq in sorted(dead_letter_queues):
        watched = [
            a for a in alarms
            if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and any(getatt(d.get("Value")) == (dlq, "QueueName") for d in a.get("Dimensions", []))
        ]
        if not watched:
            problems.append(f"{dlq}: no alarm on ApproximateNumberOfMessagesVisible")
        elif not all(a.get("AlarmActions") for a in watched):
            problems.append(f"{dlq}: its alarm has no AlarmActions")
    apis = by_type.get("AWS::Serverless::HttpApi", [])
    for api in apis:
        stats = [m.get("MetricStat", {}).get("Metric", {}) for a in alarms for m in a.get("Metrics", [])]
        if not any(
            s.get("MetricName") == "5xx" and {"Name": "ApiId", "Value": {"Ref": api}} in s.get("Dimensions", [])
            for s in stats
        ):
            problems.append(f"{api}: no alarm on its 5xx metric")
    return len(functions), len(dead_letter_queues)


def parameter_value_problem(name, spec, value):
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return f"{value!r} is not one of its AllowedValues"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"{value!r} is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"{value} is below its MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"{value} is above its MaxValue {spec['MaxValue']}"
    return None


def overrides(value):
    """parameter_overrides as (key, value) pairs: a list of strings or one string."""
    items = value if isinstance(value, list) else shlex.split(value)
    for item in items:
        key, sep, val = str(item).partition("=")
        yield key, val if sep else None


def check_samconfig(path, template, problems):
    with open(path, "rb") as f:
        config = tomllib.load(f)
    parameters = template.get("Parameters", {})
    stacks = {}
    for profile in PROFILES:
        env = config.get(profile)
        if not isinstance(env, dict):
            problems.append(f"samconfig: no [{profile}] environment")
            continue
        params = lambda command: env.get(command, {}).get("parameters", {})
        if params("build").get("beta_features") is not True:
            problems.append(f"samconfig [{profile}.build]: beta_features must be true (rust-cargolambda is a beta feature)")
        if params("build").get("cached"):
            problems.append(f"samconfig [{profile}.build]: cached would hash the whole repository before each build")
        stack = params("deploy").get("stack_name") or params("global").get("stack_name")
        if not stack:
            problems.append(f"samconfig [{profile}]: no stack_name")
        stacks[profile] = stack
        if "CAPABILITY_IAM" not in str(params("deploy").get("capabilities", "")):
            problems.append(f"samconfig [{profile}.deploy]: capabilities must include CAPABILITY_IAM")
        for key, value in overrides(params("deploy").get("parameter_overrides", [])):
            if key not in parameters:
                problems.append(f"samconfig [{profile}.deploy]: parameter_overrides names {key!r}, not a template parameter")
            elif value is None:
                problems.append(f"samconfig [{profile}.deploy]: parameter_overrides entry {key!r} has no '='")
            elif (why := parameter_value_problem(key, parameters[key], value)) is not None:
                problems.append(f"samconfig [{profile}.deploy]: {key}={why}")
            elif parameters[key].get("NoEcho"):
                problems.append(f"samconfig [{profile}.deploy]: {key} is a secret; do not keep it in the file")
    if len(stacks) == len(PROFILES) and len(set(stacks.values())) != len(PROFILES):
        problems.append(f"samconfig: the environments share a stack name: {stacks}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    template_path, samconfig_path = sys.argv[1], sys.argv[2]
    root = os.path.dirname(os.path.abspath(template_path))
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    problems = []
    n_functions, n_dlqs = check_template(template, root, problems)
    check_samconfig(samconfig_path, template, problems)
    for p in problems:
        print(f"[rhosync] packaging check: {p}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"[rhosync] packaging check: clean ({n_functions} functions with log groups, "
        f"{n_dlqs} dead-letter queues with alarms, profiles {', '.join(PROFILES)})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
