"""The certificate as a PDF (A4, Chinese), drawn with fpdf2 from the frozen row alone, so the
same certificate always renders the same document (docs/certificates-and-archive.md#pdf).

The font is Noto Sans CJK (SIL Open Font License) from the PyPI package
``cvttf-NotoSansCJK-Regular``; fpdf2 embeds the subset of glyphs the page uses (a page: about
40 KB), so the certificate shows the same on every viewer with no font installed. The QR code's
modules come from segno and are drawn as filled squares (no image library involved).
"""

from __future__ import annotations

import logging
from datetime import date
from functools import cache
from importlib import resources

import segno
from django.conf import settings
from fpdf import FPDF
from fpdf.fonts import FontFace

from services.certificates import codes
from services.models import Campaign, Certificate
from services.records.hours import as_hours

# fontTools reports every table it subsets at INFO: not a line per certificate in the logs.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT = "noto"
MARGIN = 20  # mm
QR_SIZE = 32  # mm, the code's modules and its quiet zone


@cache
def font_path() -> str:
    """CERTIFICATE_FONT_PATH, or the Noto Sans CJK font the PyPI package ships."""
    if settings.CERTIFICATE_FONT_PATH:
        return settings.CERTIFICATE_FONT_PATH
    return str(resources.files("cvttf_NotoSansCJK_Regular") / "NotoSansCJKtc-Regular.otf")


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _qr(pdf: FPDF, text: str, *, x: float, y: float, size: float) -> None:
    """The QR code of ``text`` as dark squares, ``size`` mm wide including the quiet zone."""
    qr = segno.make(text, error="m", micro=False)
    matrix = qr.matrix
    border = 4
    module = size / (len(matrix) + 2 * border)
    pdf.set_fill_color(0, 0, 0)
    for row, line in enumerate(matrix):
        for column, dark in enumerate(line):
            if dark:
                pdf.rect(
                    x + (column + border) * module,
                    y + (row + border) * module,
                    module,
                    module,
                    style="F",
                )


def render(certificate: Certificate) -> bytes:
    """The certificate's PDF bytes."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=MARGIN)
    pdf.set_creation_date(certificate.issued_at)
    pdf.set_lang("zh-CN")
    pdf.set_title(f"志愿服务证明 {certificate.serial}")
    pdf.set_author(certificate.issuer)
    pdf.set_creator("我为群众办一事")
    pdf.add_font(FONT, fname=font_path())
    pdf.add_page()

    pdf.set_font(FONT, size=10)
    pdf.cell(0, 6, f"编号：{certificate.serial}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT, size=24)
    pdf.cell(0, 14, "志愿服务证明", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    hours = as_hours(certificate.service_minutes)
    pdf.set_font(FONT, size=12)
    pdf.multi_cell(
        0,
        8,
        f"　　兹证明 {certificate.member_name} 同志于 {chinese_date(certificate.date_from)} 至 "
        f"{chinese_date(certificate.date_to)} 期间参加“我为群众办一事”志愿服务 "
        f"{certificate.service_count} 次，经核实累计服务时长 {hours} 小时，服务群众 "
        f"{certificate.people_served} 人次。服务明细如下：",
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)

    pdf.set_font(FONT, size=9)
    heading = FontFace(emphasis=None, fill_color=(235, 235, 235))
    with pdf.table(
        col_widths=(9, 19, 31, 67, 16),
        text_align=("CENTER", "CENTER", "LEFT", "LEFT", "RIGHT"),
        headings_style=heading,
        line_height=5,
        padding=1.5,
    ) as table:
        table.row(["序号", "服务日期", "服务地点", "服务内容", "时长/小时"])
        for number, service in enumerate(certificate.services, start=1):
            kind = Campaign.Kind(service["campaign_kind"]).label
            table.row(
                [
                    str(number),
                    service["date"],
                    service["place"],
                    f"【{kind}】{service['title']}：{service['content']}",
                    f"{as_hours(service['minutes'])}",
                ]
            )
        table.row(
            [
                "合计",
                "",
                f"{certificate.service_count} 次",
                f"服务群众 {certificate.people_served} 人次",
                f"{hours}",
            ]
        )

    pdf.ln(2)
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(
        0,
        5,
        "以上服务均经驿站管理员或机关工作人员核实（谁记录谁证明），时长为核实后的服务时长。",
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    # The closing block (issuer, date, code, QR) stays together on one page.
    block = QR_SIZE + 14
    if pdf.get_y() + block > pdf.h - MARGIN:
        pdf.add_page()
    pdf.ln(8)
    top = pdf.get_y()
    url = codes.verify_url(certificate.code)
    _qr(pdf, url, x=MARGIN, y=top, size=QR_SIZE)
    pdf.set_xy(MARGIN + QR_SIZE + 4, top + 4)
    pdf.set_font(FONT, size=10)
    text_width = pdf.w - MARGIN - pdf.get_x()
    pdf.multi_cell(
        text_width,
        5.5,
        f"验证码：{codes.grouped(certificate.code)}\n扫描二维码或访问以下网址核验本证明：\n{url}",
        new_x="LEFT",
        new_y="NEXT",
    )
    pdf.set_font(FONT, size=12)
    pdf.set_xy(MARGIN, top + QR_SIZE + 2)
    pdf.cell(0, 7, f"出具单位：{certificate.issuer}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0,
        7,
        f"出具日期：{chinese_date(certificate.issued_on)}",
        align="R",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
