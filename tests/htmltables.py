"""Reads what a page shows: the rows of each table by its id, each cell with its text and its
attributes, and the elements that carry an id. For the HTML the report writes and the DOM a
browser dumps alike."""

from __future__ import annotations

from html.parser import HTMLParser

import attrs


@attrs.define
class Cell:
    text: str = ""
    attributes: dict[str, str] = attrs.Factory(dict)
    links: list[str] = attrs.Factory(list)


@attrs.define
class Row:
    attributes: dict[str, str]
    cells: list[Cell] = attrs.Factory(list)


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[Row]] = {}
        self.ids: dict[str, dict[str, str]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_of_id: dict[str, str] = {}
        self._open_ids: list[tuple[str, str]] = []  # (tag, id) whose text is being collected
        self._table: list[Row] | None = None
        self._row: Row | None = None
        self._cell: Cell | None = None
        self._depth = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attributes}
        self.tags.append((tag, found))
        if "id" in found:
            self.ids[found["id"]] = found
            self._open_ids.append((tag, found["id"]))
            self.text_of_id.setdefault(found["id"], "")
        if tag == "table":
            self._table = self.tables.setdefault(found.get("id", f"table{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._row = Row(found)
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = Cell(attributes=found)
            self._row.cells.append(self._cell)
        elif tag == "a" and self._cell is not None:
            self._cell.links.append(found.get("href", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tr":
            self._row = None
        elif tag in ("td", "th"):
            self._cell = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data
        for _tag, name in self._open_ids:
            self.text_of_id[name] += data

    def rows(self, table: str) -> list[Row]:
        """The table's body rows: those that name their image or package."""
        return [
            row
            for row in self.tables[table]
            if "data-recipe" in row.attributes or "data-nevra" in row.attributes
        ]

    def heading(self, table: str) -> list[str]:
        return [cell.text.strip() for cell in self.tables[table][0].cells]

    def column(self, table: str, name: str) -> int:
        return self.heading(table).index(name)
