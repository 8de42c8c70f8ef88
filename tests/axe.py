"""axe-core in a Playwright page: the accessibility violations of what the page shows now.

axe-core comes from the npm registry, pinned in package-lock.json and installed into
node_modules/ by `scripts/setup --test`. A missing file fails the test with that command
(never a skip): an accessibility check that silently does not run cannot fail.

The pages send a strict CSP (`script-src 'self'`), which refuses the script tag Playwright
injects: open the context with `bypass_csp=True` (it changes what may run, not what axe sees).
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, plus Deque's best practices (landmarks, headings, regions).
TAGS = ("wcag2a", "wcag2aa", "wcag21aa", "best-practice")
ALL_IMPACTS = ("minor", "moderate", "serious", "critical")

# Runs in the page: axe's result trimmed to what a failure message needs.
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.map(String), html: n.html, failureSummary: n.failureSummary })),
  }));
}"""


async def inject_axe(page) -> None:
    """Put axe-core in the page once (a navigation drops it: call again after one)."""
    if await page.evaluate("typeof window.axe === 'object'"):
        return
    if not AXE_JS.exists():
        raise RuntimeError(f"axe-core is missing ({AXE_JS}): run scripts/setup --test")
    await page.add_script_tag(path=str(AXE_JS))
    if not await page.evaluate("typeof window.axe === 'object'"):
        raise RuntimeError("axe-core did not load: the page's CSP refused it; open the context with bypass_csp=True")


async def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """The violations of `impacts` on the page as it is now, each with its rule id, help and nodes."""
    await inject_axe(page)
    found = await page.evaluate(RUN_AXE, list(TAGS))
    return [v for v in found if v["impact"] in impacts]


def describe(violations: list[dict], where: str) -> str:
    """A failure message that says what to fix: rule, impact, help, and each offending element."""
    lines = [f"{len(violations)} accessibility violation(s) on {where}:"]
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"]:
            summary = " ".join((node["failureSummary"] or "").split())
            lines.append(f"    at {' '.join(node['target'])}: {summary[:300]}")
    return "\n".join(lines)
