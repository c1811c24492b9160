"""Image references with credentials in every form the scrubber must handle, and ones without any.

Shared by the table test of the scrubber (`tests/unit/test_scrub.py`) and the end-to-end test that plants
them in the simulated fleet (`tests/integration/test_planted_credentials.py`). Each password is distinct
and long enough that finding it anywhere means it leaked.
"""

from __future__ import annotations

from typing import NamedTuple

DIGEST = "sha256:" + "0f1e2d3c4b5a6978" * 4


class Form(NamedTuple):
    reference: str
    shown: str
    """The reference as it is shown: the credentials removed, the rest unchanged."""
    password: str


CREDENTIALED: tuple[Form, ...] = (
    Form("https://user:hunter2pw@registry.example.com/ns/img:1", "https://registry.example.com/ns/img:1", "hunter2pw"),
    Form("http://robot:httpPW01@10.0.0.1:5000/ml/y", "http://10.0.0.1:5000/ml/y", "httpPW01"),
    Form("oci://u:ociPW0002@reg.example.com/y:v1", "oci://reg.example.com/y:v1", "ociPW0002"),
    Form("docker://u:dockPW03@docker.io/library/ubuntu:22.04", "docker://docker.io/library/ubuntu:22.04", "dockPW03"),
    Form("HTTPS://U:UpperPW04@REG.EXAMPLE.COM/NS/IMG", "HTTPS://REG.EXAMPLE.COM/NS/IMG", "UpperPW04"),
    Form("robot:plainPW05@reg.example.com/ml/y:v1", "reg.example.com/ml/y:v1", "plainPW05"),
    Form("robot:portPW06@reg.example.com:5000/ml/y:v1", "reg.example.com:5000/ml/y:v1", "portPW06"),
    Form(f"robot:p@ssPW07@reg.example.com/ml/y@{DIGEST}", f"reg.example.com/ml/y@{DIGEST}", "p@ssPW07"),
    Form("robot:hubPW08@ubuntu:22.04", "ubuntu:22.04", "hubPW08"),
    Form("robot:p@hubPW09@ubuntu:22.04", "ubuntu:22.04", "p@hubPW09"),
    Form("robot:pa/ssPW10@reg.example.com/y:v1", "reg.example.com/y:v1", "pa/ssPW10"),
    Form("https://u:p://wPW11@reg.example.com/y", "https://reg.example.com/y", "p://wPW11"),
    Form(f"u:p/wPW12@ubuntu@{DIGEST}", f"ubuntu@{DIGEST}", "p/wPW12"),
    Form(f"robot:digPW13@ubuntu@{DIGEST}", f"ubuntu@{DIGEST}", "digPW13"),
    Form("user:123456/abc@registry/ns/img", "registry/ns/img", "123456/abc"),
    Form("0:///slashPW41@registry/ns/img", "registry/ns/img", "///slashPW41"),
    Form("robot:///slashPW42@reg.example.com/ns/img", "reg.example.com/ns/img", "///slashPW42"),
    Form("https://u:55/pPW15@reg.example.com/ns/img", "https://reg.example.com/ns/img", "55/pPW15"),
    Form("user:9916123456@registry.example.com/ns/img", "registry.example.com/ns/img", "9916123456"),
    Form("user:9917000@reg.example.com:5000/ns/img", "reg.example.com:5000/ns/img", "9917000"),
    Form("user:18000/ns@reg:5000/ns/img", "reg:5000/ns/img", "18000/ns"),
    Form(
        "robot$proj+ci:eyJhbGciOi.J19x_Y-z@tione.tencentcloudcr.com/ns/img:1",
        "tione.tencentcloudcr.com/ns/img:1",
        "eyJhbGciOi.J19x_Y-z",
    ),
    Form("u:p%40ss%3Aw0rd20@reg.example.com/ns/img", "reg.example.com/ns/img", "p%40ss%3Aw0rd20"),
    Form("u:p:a:ssPW21@reg.example.com/ns/img", "reg.example.com/ns/img", "p:a:ssPW21"),
    Form("u:pa@ss:22PW@reg.example.com/ns/img", "reg.example.com/ns/img", "pa@ss:22PW"),
    Form("u:v6PW0023@[2001:db8::1]:5000/ns/img", "[2001:db8::1]:5000/ns/img", "v6PW0023"),
    Form("https://u:v6PW0024@[::1]/ns/img", "https://[::1]/ns/img", "v6PW0024"),
    Form("u:endsWith25@@reg.example.com/ns/img", "reg.example.com/ns/img", "endsWith25@"),
    Form("https://ghpTOKEN0026@github.com/org/repo", "https://github.com/org/repo", "ghpTOKEN0026"),
    Form("TOKENonly27@reg.example.com/ns/img", "reg.example.com/ns/img", "TOKENonly27"),
    Form(f"u:digestPW28@reg.example.com/ns/img@{DIGEST}", f"reg.example.com/ns/img@{DIGEST}", "digestPW28"),
    Form("u:localPW29@localhost:5000/img", "localhost:5000/img", "localPW29"),
    Form("u:noPathPW30@reg.example.com", "reg.example.com", "noPathPW30"),
    Form("u:p&w=!$*+,;~x31@reg.example.com/ns/img", "reg.example.com/ns/img", "p&w=!$*+,;~x31"),
    Form("u:'quo(ted)32@reg.example.com/ns/img", "reg.example.com/ns/img", "'quo(ted)32"),
    Form("'u:singlePW33@reg.example.com/ns/img'", "'reg.example.com/ns/img'", "singlePW33"),
    Form("[u:bracketPW34@reg.example.com/ns/img]", "[reg.example.com/ns/img]", "bracketPW34"),
    Form("u:accentPW35é@reg.example.com/ns/img", "reg.example.com/ns/img", "accentPW35é"),
    Form("u:sha256PW36@sha-host.example.com/ns/img", "sha-host.example.com/ns/img", "sha256PW36"),
    Form("url=https://u:afterKeyPW37@reg.example.com/x", "url=https://reg.example.com/x", "afterKeyPW37"),
    Form(":noUserPW38@reg.example.com/ns/img", "reg.example.com/ns/img", "noUserPW38"),
    Form("robot:PW@", "", "robot:PW@"),
)

CLEAN: tuple[str, ...] = (
    "tione.tencentcloudcr.com/ns/img:1",
    f"ccr.ccs.tencentyun.com/ns/img@{DIGEST}",
    f"https://registry.example.com/ns/img@{DIGEST}",
    f"myreg:5000/ns/img@{DIGEST}",
    "localhost/ns/img@x",
    f"ubuntu@{DIGEST}",
    f"oci://ubuntu@{DIGEST}",
    "[2001:db8::1]:5000/ns/img",
    "alice@example.com",
    "https://registry.example.com/path/@scope/pkg",
    "",
)
"""Text without credentials, which the scrubber leaves as it is (an e-mail address, an `@` in a path)."""
