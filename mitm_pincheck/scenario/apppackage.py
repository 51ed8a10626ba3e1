"""Reading `apk` and `ipa`: the app package whose own pinning configuration the run records.

The run journals the package's pin-sets and pins found in code (`app-package`), and a row can
then say which configured pin-set its host has, and which audit finding explains its verdict.
"""

from __future__ import annotations

from pathlib import Path

from yaml.nodes import Node, ScalarNode

from mitm_pincheck.scenario.nodes import TAG_NULL, NodeReader


class AppPackageReader(NodeReader):
    def top_apk(self, node: Node, key: str) -> Path | None:
        return self._package(node, key, "apk: build/app-release.apk")

    def top_ipa(self, node: Node, key: str) -> Path | None:
        return self._package(node, key, "ipa: build/Shop.ipa")

    def _package(self, node: Node, key: str, example: str) -> Path | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            return None
        raw = self.text(node, key, example)
        path = (self.base_dir / Path(raw).expanduser()).resolve()
        if not path.is_file():
            raise self.error(
                node,
                key,
                f"no such file {raw!r} (looked for {path}); relative paths start at the "
                "scenario file's directory",
            )
        return path

    @staticmethod
    def package_settings(values: dict) -> dict:
        return {"apk": values.get("apk"), "ipa": values.get("ipa")}
