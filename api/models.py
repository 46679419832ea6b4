"""Every domain's tables in one import, for Alembic and for relationships across domains."""

from api.audit.models import AuditEntry
from api.clients.models import ApiClient
from api.consent.models import Consent, ConsentForm, Participant
from api.conversations.models import Conversation
from api.feed.models import Change
from api.fragments.models import Fragment
from api.media.models import AudioClip, AudioUpload, MediaDeletion
from api.memos.models import Memo, MemoFragment, MemoTag
from api.people.models import AuthToken, EnrolmentCode, LoginThrottle, User
from api.projects.models import Membership, Place, Project, Prompt, TrainingRecord
from api.sync.models import PhoneErasure
from api.tags.models import FragmentTag, Tag
from api.webhooks.models import WebhookDelivery, WebhookEndpoint
from api.workshops.models import BoardOp, Guest, Note, PackItem, Theme, Workshop

__all__ = [
    "ApiClient", "AudioClip", "AudioUpload", "AuditEntry", "AuthToken", "Change", "Consent", "ConsentForm",
    "Conversation", "EnrolmentCode", "Fragment", "FragmentTag", "LoginThrottle", "MediaDeletion", "Membership",
    "Participant", "Place", "Project", "Prompt", "Tag", "TrainingRecord", "User", "WebhookDelivery", "WebhookEndpoint",
    "Memo", "MemoFragment", "MemoTag",
    "BoardOp", "Guest", "Note", "PackItem", "Theme", "Workshop",  # workshops
]
__all__ += ["PhoneErasure"]  # phone (issue 14)
