#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Renders the Helm chart in the set-ups users install (render_chart.py: no helm here) and
checks what comes out.

    check_render.py [--root REPO] [--binary PATH/TO/http-event-processor]

  * every examples/*.yaml renders, to valid manifests;
  * standalone defaults: one replica, session affinity, no HPA, no peers Service;
  * standalone + autoscaling + Kafka pairing: an HPA on the Deployment (which then has no
    `replicas`), --pairing=kafka and the --peers of the headless Service <fullname>-peers, a
    PodDisruptionBudget, no session affinity;
  * standalone + replicaCount 3 + Kafka pairing: 3 replicas, the same extras;
  * refused, with a message naming Kafka pairing: standalone + autoscaling without it, and
    standalone + replicaCount > 1 without it; pairing without kafka.enabled;
  * with --binary: every flag the Deployment passes the agent is in its --help.
Exit status 0 when everything holds, 1 otherwise (every problem is printed).
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check_chart import PENDING_FLAGS  # noqa: E402
from render_chart import Fail, TemplateError, render_chart  # noqa: E402

problems = []


def check(ok, msg):
    if not ok:
        problems.append(msg)


def kinds(docs):
    out = {}
    for _, d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def agent_args(docs):
    dep = kinds(docs)["Deployment"][0]
    for c in dep["spec"]["template"]["spec"]["containers"]:
        if c["name"] == "agent":
            return c.get("args", [])
    return []


def render(chart, sets, what):
    try:
        return render_chart(chart, sets=sets, name="cap", namespace="obs")
    except Fail as e:
        problems.append("%s: refused: %s" % (what, e))
    except TemplateError as e:
        problems.append("%s: %s" % (what, e))
    return None


def refused(chart, sets, what, must_name):
    try:
        render_chart(chart, sets=sets, name="cap", namespace="obs")
    except Fail as e:
        check(must_name in str(e), "%s: refused, but the message does not name %r: %s"
              % (what, must_name, e))
        return
    except TemplateError as e:
        problems.append("%s: %s" % (what, e))
        return
    problems.append("%s: rendered; it must be refused" % what)


PAIRING = ["mode=standalone", "kafka.enabled=true", "kafka.brokers=k0:9092,k1:9092",
           "kafka.pairing.enabled=true"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.abspath(os.path.join(HERE, "..", "..")))
    ap.add_argument("--binary")
    a = ap.parse_args()
    chart = os.path.join(a.root, "deploy", "helm", "http-event-processor")
    full = "cap-http-event-processor"

    for f in sorted(os.listdir(os.path.join(chart, "examples"))):
        try:
            docs = render_chart(chart, [os.path.join(chart, "examples", f)], name="cap",
                                namespace="obs")
            check(any(d["kind"] == "Deployment" for _, d in docs), "%s: no Deployment" % f)
        except (Fail, TemplateError) as e:
            problems.append("examples/%s: %s" % (f, e))

    docs = render(chart, [], "defaults")
    if docs:
        k = kinds(docs)
        check(k["Deployment"][0]["spec"].get("replicas") == 1, "defaults: replicas is not 1")
        check(k["Service"][0]["spec"].get("sessionAffinity") == "ClientIP",
              "defaults: the Service lost its session affinity")
        check("HorizontalPodAutoscaler" not in k, "defaults: an HPA is rendered")
        check(len(k["Service"]) == 1, "defaults: a second Service is rendered")
        check(k["Deployment"][0]["spec"]["strategy"]["type"] == "Recreate",
              "defaults: a standalone agent must be replaced, not rolled (halves would split)")
        check(not any(x.startswith("--pairing") for x in agent_args(docs)),
              "defaults: --pairing is passed")

    for what, extra, replicas in (
            ("standalone + autoscaling + Kafka pairing",
             ["autoscaling.enabled=true", "autoscaling.maxReplicas=10"], None),
            ("standalone + replicaCount 3 + Kafka pairing", ["replicaCount=3"], 3)):
        docs = render(chart, PAIRING + extra, what)
        if not docs:
            continue
        k = kinds(docs)
        dep = k["Deployment"][0]
        check(dep["spec"].get("replicas") == replicas,
              "%s: Deployment replicas %r, want %r" % (what, dep["spec"].get("replicas"), replicas))
        if replicas is None:
            hpa = k.get("HorizontalPodAutoscaler", [None])[0]
            check(hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
                  and hpa["spec"]["maxReplicas"] == 10, "%s: no HPA on the Deployment" % what)
        args = agent_args(docs)
        check("--pairing=kafka" in args, "%s: no --pairing=kafka in %s" % (what, args))
        check("--pairing-group=%s" % full in args, "%s: the group is not the full name" % what)
        check("--peers=dns:%s-peers.obs.svc:8080" % full in args,
              "%s: no --peers of the headless Service in %s" % (what, args))
        services = {s["metadata"]["name"]: s for s in k["Service"]}
        peers = services.get(full + "-peers")
        check(peers is not None and peers["spec"].get("clusterIP") == "None",
              "%s: no headless Service %s-peers" % (what, full))
        check("sessionAffinity" not in services[full]["spec"],
              "%s: the SPOP Service keeps session affinity" % what)
        check("PodDisruptionBudget" in k, "%s: no PodDisruptionBudget" % what)
        check(dep["spec"]["strategy"]["type"] == "RollingUpdate",
              "%s: strategy %s: replicas pairing through Kafka roll one at a time" %
              (what, dep["spec"]["strategy"]["type"]))
        if a.binary:
            out = subprocess.run([a.binary, "--help"], capture_output=True, text=True).stdout
            known = set(re.findall(r"--[a-z][a-z0-9-]*", out))
            for x in args:
                flag = x.split("=", 1)[0]
                check(flag in known or flag.lstrip("-") in PENDING_FLAGS,
                      "%s: the chart passes %s, not in the agent's --help" % (what, flag))

    refused(chart, ["mode=standalone", "autoscaling.enabled=true"],
            "standalone + autoscaling without Kafka pairing", "kafka.pairing.enabled")
    refused(chart, ["mode=standalone", "replicaCount=2"],
            "standalone + replicaCount 2 without Kafka pairing", "kafka.pairing.enabled")
    refused(chart, ["mode=standalone", "kafka.pairing.enabled=true"],
            "pairing without kafka.enabled", "kafka.enabled")

    for p in problems:
        print("check_render: " + p)
    print("check_render: %s" % ("OK" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
