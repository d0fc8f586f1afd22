"""The Network tab's live drawing: the engine's layout (`znn.netspec.diagram.layout`, the same as
`znn info --diagram`) as boxes and arrows in a QGraphicsView, scaled to the dock's width and
scrolled vertically. Hovering or clicking a box tells the editor which layer it is
(`layer_picked`); `highlight(node)` outlines the box of the layer chosen in the table or text."""

from __future__ import annotations

from qtpy.QtCore import QPointF, QRectF, Qt, Signal
from qtpy.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from qtpy.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from znn.netspec.diagram import BOX_HEIGHT, BOX_WIDTH, COLUMN, LABEL_ROOM, Diagram, layout
from znn.netspec.graph import NetworkGraph

UNIT = 120.0  # pixels per layout unit before the view scales to its width
BOX_FILL, BOX_EDGE, CHOSEN = QColor("#eef3f8"), QColor("#4a6f8a"), QColor("#e8a33d")
LABEL = QColor("#9cc3e6")


class _Box(QGraphicsRectItem):
    def __init__(self, rect: QRectF, name: str, view: NetworkDiagram) -> None:
        super().__init__(rect)
        self.name, self._view = name, view
        self.setAcceptHoverEvents(True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)

    def hoverEnterEvent(self, event: object) -> None:  # noqa: N802 (Qt's name)
        self._view.layer_picked.emit(self.name)

    def mousePressEvent(self, event: object) -> None:  # noqa: N802
        self._view.layer_picked.emit(self.name)


class NetworkDiagram(QGraphicsView):
    """`show_graph(graph)` redraws; `layer_picked(node)` when the pointer enters or clicks a box."""

    layer_picked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setBackgroundBrush(QBrush(QColor("#262930")))  # napari's dark panel
        self.setToolTip("The network as ZNN's groups: node groups as boxes (maps, transfer function, map size "
                        "for the training patch, receptive field reached there), edge groups as arrows")
        self.boxes: dict[str, _Box] = {}
        self.diagram: Diagram | None = None
        self._chosen: str | None = None

    def names(self) -> list[str]:
        """Every group named in the drawing (node boxes and edge labels)."""
        return self.diagram.names() if self.diagram is not None else []

    def clear_graph(self) -> None:
        self._scene.clear()
        self.boxes, self.diagram = {}, None

    def show_graph(self, graph: NetworkGraph) -> None:
        scene = self._scene
        scene.clear()
        self.boxes = {}
        self.diagram = diagram = layout(graph)
        title_font, detail_font, label_font = QFont(), QFont(), QFont()
        title_font.setPixelSize(13)
        detail_font.setPixelSize(11)
        label_font.setPixelSize(11)
        half_w, half_h = BOX_WIDTH * UNIT / 2, BOX_HEIGHT * UNIT / 2
        for edge in diagram.edges:
            a, b = diagram.nodes[edge.source], diagram.nodes[edge.target]
            start = QPointF(a.x * UNIT, -a.y * UNIT + half_h)
            end = QPointF(b.x * UNIT, -b.y * UNIT - half_h)
            path = QPainterPath(start)
            if edge.x not in (a.x, b.x):  # skips rows: around them, beside its label
                path.cubicTo(QPointF(edge.x * UNIT, start.y()), QPointF(edge.x * UNIT, end.y()), end)
            else:
                path.lineTo(end)
            scene.addPath(path, QPen(QColor("#9aa5b1"), 1.5))
            scene.addPolygon(QPolygonF([end, end + QPointF(-5, -9), end + QPointF(5, -9)]),
                             QPen(QColor("#9aa5b1")), QBrush(QColor("#9aa5b1")))
            label = QGraphicsSimpleTextItem(edge.label)
            label.setFont(label_font)
            scene.addItem(label)
            label.setBrush(QBrush(LABEL))
            label.setPos(edge.x * UNIT + 8, -edge.y * UNIT - label.boundingRect().height() / 2)
        for node in diagram.nodes.values():
            rect = QRectF(node.x * UNIT - half_w, -node.y * UNIT - half_h, 2 * half_w, 2 * half_h)
            box = _Box(rect, node.name, self)
            box.setBrush(QBrush(BOX_FILL))
            box.setPen(QPen(BOX_EDGE, 1.2))
            box.setToolTip(f"{node.title}\n{node.detail}")
            scene.addItem(box)
            self.boxes[node.name] = box
            for text, font, dy, colour in ((node.title, title_font, -0.22, "#10202c"),
                                           (node.detail, detail_font, 0.2, "#44505c")):
                item = QGraphicsSimpleTextItem(text, box)
                item.setFont(font)
                item.setBrush(QBrush(QColor(colour)))
                width = item.boundingRect().width()
                if width > 2 * half_w - 8:  # too long for the box: scale it down to fit
                    item.setScale((2 * half_w - 8) / width)
                    width = 2 * half_w - 8
                item.setPos(rect.center().x() - width / 2,
                            rect.center().y() + dy * 2 * half_h - item.boundingRect().height() * item.scale() / 2)
        right = (diagram.columns - 1) * COLUMN * UNIT + half_w + LABEL_ROOM * UNIT
        scene.setSceneRect(QRectF(-half_w - 10, -half_h - 10, right + half_w + 20,
                                  (diagram.rows - 1) * UNIT + 2 * half_h + 20))
        self.highlight(self._chosen)
        self._fit_width()

    def highlight(self, name: str | None) -> None:
        """Outline the box of layer `name` (None: none)."""
        self._chosen = name
        for node, box in self.boxes.items():
            chosen = node == name
            box.setPen(QPen(CHOSEN if chosen else BOX_EDGE, 3.0 if chosen else 1.2))
        if name in self.boxes:
            self.ensureVisible(self.boxes[name], 10, 20)

    def _fit_width(self) -> None:
        rect = self._scene.sceneRect()
        if rect.width() <= 0:
            return
        self.resetTransform()
        viewport = self.viewport()
        width = viewport.width() if viewport is not None else 400
        scale = max(0.2, (width - 4) / rect.width())
        self.scale(scale, scale)

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit_width()
