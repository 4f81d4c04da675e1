"""diagnose: one step that writes the diagnosis report; it changes nothing on the host."""

from __future__ import annotations

from podshift.recovery.diagnosis import diagnose
from podshift.recovery.engines import both_engines
from podshift.remediation import Plan
from podshift.stepping import reports_dir_of
from podshift.steps import Step, StepContext

REPORT = "diagnosis.txt"


class DiagnosisReport(Step):
    name = "report"
    title = "Diagnose both engines, the ports, the backup and the journals (changes nothing)"
    action = "recover"
    scenarios = ("diagnose",)

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(fix=self.name, scope="project", summary=f"{self.title}; write reports/{REPORT}")

    def done(self, ctx: StepContext) -> bool:
        return False  # a diagnosis is always taken afresh

    def run(self, ctx: StepContext) -> str:
        with both_engines(ctx.config) as runtimes:
            found = diagnose(ctx.project, runtimes)
        text = found.render()
        for line in text.splitlines():
            ctx.log.info("%s", line)
        reports = reports_dir_of(ctx.config)
        reports.mkdir(parents=True, exist_ok=True)
        (reports / REPORT).write_text(text)
        problems = found.problems()
        worst = "; ".join(f.what for f in problems if f.severity == "critical")[:300]
        return f"{len(problems)} problem(s){': ' + worst if worst else ''}; report in {reports / REPORT}"
