"""無害化: attachments made harmless before they cross into the LGWAN side.

What crosses is a new file written by us from what we could read, never the resident's
bytes: images are decoded and encoded again (no EXIF, GPS, comments, ICC profile or bytes
after the image's end); PDFs are rewritten by qpdf (pikepdf) without JavaScript, actions,
embedded files, forms' XFA or metadata, and rasterised page by page when that fails. A file
that cannot be made harmless (a HEIC photo with no decoder, a broken PDF with no renderer)
does not cross: the inside is told it was withheld and why, and the original stays on the
intake side.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image, ImageOps

logger = logging.getLogger("tenohira.transfer")

# Decoding a "photo" of 20,000 × 20,000 pixels would take gigabytes: refuse past this.
MAX_PIXELS = 60_000_000
RASTER_DPI = 150
RASTER_MAX_PAGES = 50

# Keys that run something, carry a file or describe one: removed wherever they appear.
_DANGEROUS_KEYS = ("/JS", "/JavaScript", "/AA", "/OpenAction", "/A", "/EmbeddedFiles", "/EmbeddedFile",
                   "/EF", "/AF", "/XFA", "/RichMediaContent", "/Launch", "/SubmitForm", "/ImportData")
_DANGEROUS_ANNOTS = {"/FileAttachment", "/Sound", "/Movie", "/Screen", "/RichMedia", "/3D"}


@dataclass
class Result:
    data: bytes | None          # None: withheld
    content_type: str
    method: str                 # image-reencoded / pdf-rewritten / pdf-rasterised / withheld
    reason: str = ""            # why withheld (Japanese)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else ""


def make_harmless(data: bytes, content_type: str) -> Result:
    if content_type in ("image/jpeg", "image/png"):
        try:
            return Result(_reencode(data, "JPEG" if content_type == "image/jpeg" else "PNG"), content_type, "image-reencoded")
        except Exception:  # noqa: BLE001 - whatever Pillow cannot read does not cross
            return Result(None, content_type, "withheld", "画像として読めないため持ち込んでいません。")
    if content_type == "application/pdf":
        try:
            return Result(_rewrite_pdf(data), content_type, "pdf-rewritten")
        except Exception as exc:  # noqa: BLE001 - fall back to pictures of the pages
            logger.info("PDF could not be rewritten (%s); rasterising it", type(exc).__name__)
        try:
            return Result(_rasterise_pdf(data), content_type, "pdf-rasterised")
        except Exception:  # noqa: BLE001
            return Result(None, content_type, "withheld", "PDF を無害化できないため持ち込んでいません。")
    return Result(None, content_type, "withheld",
                  "この種類のファイルは無害化できないため持ち込んでいません（原本はインターネット側に残っています）。")


def _reencode(data: bytes, fmt: str) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > MAX_PIXELS:
            raise ValueError("too many pixels")
        image.load()
        # Stripping EXIF also strips its orientation: turn the pixels as the phone meant.
        upright = ImageOps.exif_transpose(image)
    if fmt == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    if fmt == "PNG" and upright.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        upright = upright.convert("RGBA")
    upright.info = {}  # nothing of the original's metadata is carried into the new file
    out = io.BytesIO()
    if fmt == "JPEG":
        upright.save(out, "JPEG", quality=90)
    else:
        upright.save(out, "PNG")
    return out.getvalue()


def _clean(obj, seen: set) -> None:
    """Remove active content from a dictionary (or stream) and the direct objects in it."""
    if isinstance(obj, pikepdf.Array):
        for item in obj:
            if isinstance(item, (pikepdf.Dictionary, pikepdf.Array, pikepdf.Stream)) and not item.is_indirect:
                _clean(item, seen)
        return
    if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
        return
    for key in _DANGEROUS_KEYS:
        if key in obj:
            del obj[key]
    if "/Annots" in obj and isinstance(obj["/Annots"], pikepdf.Array):
        kept = [a for a in obj["/Annots"]
                if not (isinstance(a, pikepdf.Dictionary) and a.get("/Subtype") in _DANGEROUS_ANNOTS)]
        obj["/Annots"] = pikepdf.Array(kept)
    if obj.get("/S") in ("/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToE", "/GoToR"):
        for key in list(obj.keys()):
            del obj[key]
    for key in list(obj.keys()):
        value = obj[key]
        if isinstance(value, (pikepdf.Dictionary, pikepdf.Array)) and not value.is_indirect:
            _clean(value, seen)


def _rewrite_pdf(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in pdf.objects:
            _clean(obj, set())
        if "/Metadata" in pdf.Root:
            del pdf.Root["/Metadata"]
        if "/Info" in pdf.trailer:
            del pdf.trailer["/Info"]
        out = io.BytesIO()
        # Only what the pages reach is written (qpdf drops the rest and any trailing bytes);
        # no object streams, so what is left can be read and checked plainly.
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=True,
                 deterministic_id=True)
    written = out.getvalue()
    _check_rewritten(written)
    return written


def _check_rewritten(data: bytes) -> None:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)) and any(
                key in obj for key in ("/JS", "/JavaScript", "/OpenAction", "/AA", "/EmbeddedFiles", "/EF")
            ) or obj.get("/Type") == "/EmbeddedFile":
                raise ValueError("active content left")


def _rasterise_pdf(data: bytes) -> bytes:
    renderer = shutil.which("pdftoppm")
    if not renderer:
        raise RuntimeError("no renderer")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(data)
        subprocess.run(  # noqa: S603 - fixed program, our own temporary paths
            [renderer, "-r", str(RASTER_DPI), "-l", str(RASTER_MAX_PAGES), "-png", str(source), str(Path(tmp) / "p")],
            check=True, capture_output=True, timeout=120,
        )
        pages = sorted(Path(tmp).glob("p*.png"))
        if not pages:
            raise RuntimeError("no pages")
        images = [Image.open(p).convert("RGB") for p in pages]
        out = io.BytesIO()
        images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=RASTER_DPI)
        return out.getvalue()
