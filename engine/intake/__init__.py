"""Photo intake: untrusted uploads (single photos or .zip archives) in, training-ready RGB
photos out, every rejection with a reason a person can act on.

Pillow (with pillow-heif for HEIC), and the standard library only, so the bot can validate
uploads without torch.
"""

from engine.intake.crops import Bucket, Framed, contact_sheet, frame, square_crop
from engine.intake.filenames import sanitize_display_name
from engine.intake.storage import save_photos
from engine.intake.uploads import AcceptedPhoto, IntakeLimits, IntakeResult, Rejection, Upload
from engine.intake.validate import validate_uploads

__all__ = [
    "AcceptedPhoto",
    "Bucket",
    "Framed",
    "IntakeLimits",
    "IntakeResult",
    "Rejection",
    "Upload",
    "contact_sheet",
    "frame",
    "sanitize_display_name",
    "save_photos",
    "square_crop",
    "validate_uploads",
]
