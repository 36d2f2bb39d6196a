"""The configuration a coordinator writes: authorities, units, campaigns (YAML under ``config/``).

Loading validates everything it can and reports *every* problem at once, each naming its file and
field, so a coordinator fixes a campaign in one pass instead of one error per run.

``values`` holds the value types, ``models`` the pydantic models, ``yaml_reader`` the YAML reading (and where
each node is), ``messages`` pydantic's errors as problems, ``checks`` the cross-checks between the files and
``loading`` the ``LoadedCampaign``. The rest of congvan imports the names below from ``congvan.config``.
"""

from congvan.config.loading import (
    Addressee,
    LoadedCampaign,
    campaign_path,
    list_campaigns,
    load_authorities,
    load_campaign,
)
from congvan.config.messages import pydantic_message
from congvan.config.models import (
    AuthoritiesFile,
    Authority,
    CalendarExtras,
    Campaign,
    Columns,
    FollowUp,
    Group,
    Head,
    LadderStep,
    MailTemplates,
    NamedAddress,
    RecipientRef,
    Signer,
    Unit,
    UnitsFile,
)
from congvan.config.values import check_address

__all__ = [
    "Addressee", "AuthoritiesFile", "Authority", "CalendarExtras", "Campaign", "Columns", "FollowUp", "Group", "Head",
    "LadderStep", "LoadedCampaign", "MailTemplates", "NamedAddress", "RecipientRef", "Signer", "Unit", "UnitsFile",
    "campaign_path", "check_address", "list_campaigns", "load_authorities", "load_campaign", "pydantic_message",
]
