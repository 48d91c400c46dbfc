# SPDX-License-Identifier: Apache-2.0
"""A renderer for exactly the Helm template subset deploy/helm/kiln uses, since helm itself
is not installed here:

    {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Chart.AppVersion }}   a value
    {{ PATH | quote }}                                                 a quoted value
    {{ toYaml PATH | nindent N }}                                      a YAML block
    {{ if PATH }} ... {{ end }}                                        truthiness, nestable
    {{- ... }} / {{ ... -}}                                            whitespace trimming

Anything else is an error, so the chart cannot drift into syntax this renderer would get
wrong. Values print as Go's text/template prints Helm's values (numbers are float64 there):
a number of a million or more would come out as 1e+06, so it is refused here too."""
import re

import yaml

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
PATH = r"\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"


class TemplateError(Exception):
    pass


def lookup(ctx, path):
    cur = ctx
    for part in path.lstrip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None  # Helm prints <no value>; callers refuse it
        cur = cur[part]
    return cur


def go_print(value, path):
    if value is None:
        raise TemplateError("%s: no such value" % path)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if abs(value) >= 1e6:
            raise TemplateError("%s: Helm would print %s in exponent form; make it a string"
                                % (path, value))
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, str):
        return value
    raise TemplateError("%s: a %s cannot be printed; use toYaml" % (path, type(value).__name__))


def to_yaml(value):
    # sigs.k8s.io/yaml (Helm's toYaml) sorts keys and uses block style.
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def evaluate(expr, ctx):
    m = re.fullmatch(r"(%s)" % PATH, expr)
    if m:
        return go_print(lookup(ctx, m.group(1)), m.group(1))
    m = re.fullmatch(r"(%s)\s*\|\s*quote" % PATH, expr)
    if m:
        v = lookup(ctx, m.group(1))
        return '"%s"' % go_print(v, m.group(1)).replace("\\", "\\\\").replace('"', '\\"')
    m = re.fullmatch(r"toYaml\s+(%s)\s*\|\s*nindent\s+(\d+)" % PATH, expr)
    if m:
        v = lookup(ctx, m.group(1))
        if v is None:
            raise TemplateError("%s: no such value" % m.group(1))
        pad = " " * int(m.group(2))
        return "\n" + "\n".join(pad + line if line else line
                                for line in to_yaml(v).split("\n"))
    raise TemplateError("unsupported template action {{ %s }}" % expr)


def tokenize(text):
    """[(kind, payload)]: ("text", str) and ("action", expr), with trimming applied."""
    out, pos = [], 0
    for m in ACTION.finditer(text):
        chunk = text[pos:m.start()]
        if m.group(1):
            chunk = chunk.rstrip(" \t\r\n")
        out.append(["text", chunk])
        out.append(["action", m.group(2), bool(m.group(3))])
        pos = m.end()
    out.append(["text", text[pos:]])
    for i, tok in enumerate(out):
        if tok[0] == "action" and tok[2] and i + 1 < len(out):
            out[i + 1][1] = out[i + 1][1].lstrip(" \t\r\n")
    return out


def render(text, ctx):
    tokens = tokenize(text)
    result, stack = [], []  # stack of "emitting?" flags for open ifs

    def emitting():
        return all(stack)

    for tok in tokens:
        if tok[0] == "text":
            if emitting():
                result.append(tok[1])
            continue
        expr = tok[1]
        if expr.startswith("/*"):
            continue
        m = re.fullmatch(r"if\s+(%s)" % PATH, expr)
        if m:
            v = lookup(ctx, m.group(1))
            stack.append(bool(v))
            continue
        if expr == "end":
            if not stack:
                raise TemplateError("{{ end }} without {{ if }}")
            stack.pop()
            continue
        if emitting():
            result.append(evaluate(expr, ctx))
    if stack:
        raise TemplateError("{{ if }} without {{ end }}")
    return "".join(result)


def merge(base, override):
    """Helm's --set/-f merge: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render_chart(chart_dir, overrides=None, name="kiln", namespace="kiln"):
    """Renders every template of CHART_DIR. Returns {template file name: rendered text}."""
    import os

    with open(os.path.join(chart_dir, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    with open(os.path.join(chart_dir, "values.yaml")) as f:
        values = yaml.safe_load(f)
    ctx = {
        "Values": merge(values, overrides or {}),
        "Release": {"Name": name, "Namespace": namespace},
        "Chart": {"Name": chart["name"], "Version": chart["version"],
                  "AppVersion": chart["appVersion"]},
    }
    tdir = os.path.join(chart_dir, "templates")
    out = {}
    for fn in sorted(os.listdir(tdir)):
        if fn.endswith(".yaml"):
            with open(os.path.join(tdir, fn)) as f:
                out[fn] = render(f.read(), ctx)
    return out
