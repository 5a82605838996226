"""A contract type for import-linter (pyproject.toml [tool.importlinter]): no app imports
another app's views, admin or private (`_name`) modules. An app's own modules may; the project
package wires URLs and admin by dotted strings, not imports."""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output

PROTECTED_NAMES = {"views", "admin"}


class AppPrivateModulesContract(Contract):
    type_name = "app_private_modules"

    apps_package = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        prefix = f"{self.apps_package}."
        illegal: list[tuple[str, str]] = []
        for importer in sorted(graph.modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported.startswith(prefix) and self._app(importer) != self._app(imported) and self._private(imported):
                    illegal.append((importer, imported))
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["illegal"]:
            output.print_error(f"{importer} imports {imported}, another app's view, admin or private module.")
            output.new_line()

    def _app(self, module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if parts[0] == self.apps_package and len(parts) > 1 else None

    def _private(self, module: str) -> bool:
        parts = module.split(".")[2:]
        return any(part in PROTECTED_NAMES or (part.startswith("_") and not part.startswith("__")) for part in parts)
