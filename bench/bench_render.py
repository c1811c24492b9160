"""How long turning a poll's answer into exposition bytes takes, for fleets of 1k, 10k and 50k services.

Each service looks like a busy production one: GPU resources with a detail set, two workload
conditions, two pods with a container each, two tags, an autoscaler. Two services per group. Times are
the best of a few runs of `collect_region` (once per poll of a region) and `render` (once per change of
any region), and the sizes of what a scrape then transfers.

    python -m bench.bench_render [--sizes 1000,10000,20000] [--repeat 3] [--no-pods]

Results are recorded in docs/performance.md ("Rendering").
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from exporter.metrics.gzipped import GzipPrefix
from exporter.metrics.options import RenderOptions
from exporter.metrics.render import collect_region, render
from exporter.tione.snapshot import RegionSnapshot
from tests.api_models import ServiceGroup

T = TypeVar("T")

EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
STATUSES = ("Normal", "Normal", "Normal", "Abnormal", "Stopped", "Waiting")


def moment(seconds: int) -> str:
    """A distinct time for every object, as in a real fleet (the same times would flatter the caches)."""
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def service(group_id: str, index: int, number: int) -> dict[str, Any]:
    service_id = f"{group_id}-{index}"
    status = STATUSES[number % len(STATUSES)]
    pods = [
        {
            "Name": f"{service_id}-7456b4cc97-{pod:05d}",
            "Phase": "Running",
            "ContainerInfos": [{"Name": "model", "Status": {"RestartCount": pod, "Ready": True}}],
        }
        for pod in range(2)
    ]
    return {
        "ServiceGroupId": group_id,
        "ServiceId": service_id,
        "ServiceGroupName": f"llm-{group_id}",
        "Status": status,
        "BusinessStatus": "CREATE_SUCCEED",
        "ChargeType": "POSTPAID_BY_HOUR",
        "Namespace": "infer-100005348929",
        "Version": str(index),
        "Weight": 50,
        "DeployType": "STANDARD",
        "CreateSource": "DEFAULT",
        "CreateTime": moment(number * 60),
        "UpdateTime": moment(number * 60 + 30),
        "Tags": [{"TagKey": "team", "TagValue": "search"}, {"TagKey": "cost-center", "TagValue": "cc-42"}],
        "ServiceInfo": {
            "Replicas": 2,
            "InstanceType": "TI.GNV4.3XLARGE44.POST",
            "ScaleMode": "AUTO",
            "HorizontalPodAutoscaler": {"MinReplicas": 1, "MaxReplicas": 4},
            "ImageInfo": {"ImageType": "PRE_SET", "ImageUrl": "tione.tencentcloudcr.com/qcloud-ti-platform/llm:1"},
            "ModelInfo": {
                "ModelId": "m-838176671237008128",
                "ModelName": "chatglm-6b",
                "ModelVersionId": "mv-v1-838176671237008129",
                "ModelVersion": "v1",
                "ModelSource": "COS",
                "ModelFormat": "PYTORCH",
                "AlgorithmFramework": "PYTORCH",
            },
            "Resources": {
                "Cpu": 12000,
                "Memory": 45056,
                "Gpu": 100,
                "GpuType": "A10",
                "RealGpu": 100,
                "RealGpuDetailSet": [{"Name": "A10", "Value": 100}],
            },
            "Status": {
                "Replicas": 2,
                "ReadyReplicas": 2,
                "AvailableReplicas": 2,
                "UnavailableReplicas": 0,
                "UpdatedReplicas": 2,
                "Status": status,
                "Conditions": [
                    {"Type": "Available", "Status": "True", "LastTransitionTime": moment(number * 60 + 40)},
                    {"Type": "Progressing", "Status": "True", "LastTransitionTime": moment(number * 60 + 41)},
                ],
            },
            "PodInfos": pods,
        },
    }


def fleet(services: int) -> list[ServiceGroup]:
    groups = []
    for number in range(services // 2):
        group_id = f"ms-{number:08d}"
        groups.append(
            ServiceGroup.model_validate(
                {
                    "ServiceGroupId": group_id,
                    "ServiceGroupName": f"llm-{group_id}",
                    "CreatedBy": "100032054859",
                    "CreateTime": moment(number * 120),
                    "Status": "Normal",
                    "ServiceCount": 2,
                    "RunningServiceCount": 2,
                    "ReplicasCount": 4,
                    "Tags": [{"TagKey": "team", "TagValue": "search"}],
                    "Services": [service(group_id, 1, 2 * number), service(group_id, 2, 2 * number + 1)],
                }
            )
        )
    return groups


def best_of(repeat: int, action: Callable[[], T]) -> tuple[float, T]:
    """Best CPU time of the process over `repeat` runs (wall time on a shared machine is noisier)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = action()
        best = min(best, time.process_time() - started)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-pods", action="store_true", help="render with pod_series off")
    args = parser.parse_args()
    options = RenderOptions(tag_labels=("team", "cost-center"), pod_series=not args.no_pods)

    print(f"python {platform.python_version()} on {platform.machine()}, pod series {'off' if args.no_pods else 'on'}")
    print("| services | series | collect_region | render | gzip (once) | text | text gzip | total |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(part) for part in args.sizes.split(",")):
        groups = fleet(size)
        collect_seconds, samples = best_of(
            args.repeat, lambda groups=groups: collect_region(RegionSnapshot("ap-guangzhou", tuple(groups)), options)
        )
        render_seconds, exposition = best_of(args.repeat, lambda samples=samples: render([samples]))
        gzip_seconds, prefix = best_of(
            args.repeat, lambda exposition=exposition: GzipPrefix.of(exposition.chunks(False))
        )
        total = collect_seconds + render_seconds + gzip_seconds
        print(
            f"| {size:,} | {samples.series:,} | {collect_seconds:.2f} s | {render_seconds * 1000:.0f} ms "
            f"| {gzip_seconds * 1000:.0f} ms | {exposition.size(False) / 1e6:.1f} MB "
            f"| {len(prefix.finish(b'')) / 1e6:.1f} MB | {total:.2f} s |"
        )


if __name__ == "__main__":
    main()
