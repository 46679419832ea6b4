"""`hearken demo`: a realistic project to look around in, made through the same rules as real capture."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from api.consent.models import ConsentForm
from api.db import open_session
from api.feed import service as feed
from api.people.deps import Actor
from api.people.models import AuthToken, TokenKind, User
from api.people.security import digest, hash_password, new_token
from api.projects.models import Membership, Place, Project, Prompt, Role, TrainingRecord
from api.sync import service as sync
from api.tags.models import FragmentTag, Tag

PROJECT_NAME = "Belong in Plymouth 2026 (demo)"
PLACES = ("Stonehouse", "Devonport")
PROMPTS = ("Where do you feel you belong round here?", "Who do you turn to when things are hard?",
           "What has changed on your street in the last few years?", "What would make this a better place to live?")
QUESTIONS = [
    {"id": "belong", "type": "slider", "label": "How much do you feel you belong here?",
     "left": "not at all", "right": "completely"},
    {"id": "mood", "type": "choice", "label": "How did it feel to talk about this?", "options": ["good", "mixed", "hard"]},
]
TAGS = {"isolation": "#8a3b12", "transport": "#1d5c8f", "health services": "#2f6b2f", "neighbours": "#6b2f6b",
        "money worries": "#7a6a00", "green space": "#2a7a5a", "young people": "#9c2f4b", "community spaces": "#3b3b8a"}
SAYINGS = {
    "isolation": ["Some weeks the only person I talk to is the lady at the till.",
                  "Since my husband passed nobody knocks any more.",
                  "I stay in after dark, so the evenings are long."],
    "transport": ["The 34 stopped running on Sundays and that was church gone for me.",
                  "Getting to the hospital is two buses and a walk up the hill.",
                  "I can't afford the bus every day, so I walk or I don't go."],
    "health services": ["You ring at eight and by five past all the appointments are gone.",
                        "The pharmacist knows me better than my GP does.",
                        "I waited nine months for the mental health team to call back."],
    "neighbours": ["Our street has a WhatsApp group now and it really helps.",
                   "The man next door brings my bins in without being asked.",
                   "People move in and out so fast you never learn their names."],
    "money worries": ["It's heat or eat some weeks, honestly.",
                      "The food bank volunteers treat you like a person, that matters.",
                      "I do two jobs and still can't cover the rent rise."],
    "green space": ["The park is where I feel most at home, watching the kids play.",
                    "They fenced off the green and now there is nowhere to sit.",
                    "The community garden got me out of the house after my operation."],
    "young people": ["There's nothing for the teenagers, so they hang about and people get scared.",
                     "My son found his feet at the boxing club.",
                     "The youth centre closing was the worst thing that happened here."],
    "community spaces": ["The church hall is the only warm place open on a Tuesday.",
                         "The library is where I print my forms and have a chat.",
                         "Since the pub shut there's nowhere to bump into people."],
}
OBSERVATIONS = ["Spoke at the door; seemed relieved to be asked.", "Talked for a long time about her late husband.",
                "Very keen to be involved in the workshop.", "Had to stop when the children came home."]


def seed(password: str = "hearken-demo", fragments: int = 240) -> str:
    rnd = random.Random(2026)
    with open_session() as session:
        if session.exec(select(Project).where(Project.name == PROJECT_NAME)).first():
            return f"The demo project already exists; log in as coordinator@demo.hearken / {password}."
        pw = hash_password(password)

        def user(email: str, name: str, admin: bool = False) -> User:
            existing = session.exec(select(User).where(User.email == email)).first()
            if existing:
                return existing
            u = User(email=email, display_name=name, password_hash=pw, is_admin=admin)
            session.add(u)
            return u

        user("admin@demo.hearken", "Demo admin", admin=True)
        coordinator = user("coordinator@demo.hearken", "Aisha (coordinator)")
        researchers = [user("jo@demo.hearken", "Jo (community researcher)"),
                       user("sam@demo.hearken", "Sam (community researcher)")]
        project = Project(name=PROJECT_NAME, questions=QUESTIONS, retention_days=3 * 365,
                          description="Community researchers talk with neighbours in Stonehouse and Devonport about "
                                      "belonging, loneliness and health. A demo with made-up fragments.")
        session.add(project)
        session.flush()
        session.add(Membership(project_id=project.id, user_id=coordinator.id, role=Role.coordinator))
        today = date.today()
        for r in researchers:
            session.add(Membership(project_id=project.id, user_id=r.id, role=Role.researcher))
            session.add(TrainingRecord(project_id=project.id, user_id=r.id, completed_on=today - timedelta(days=120),
                                       expires_on=today + timedelta(days=245), recorded_by=coordinator.id))
        places = [Place(project_id=project.id, name=n) for n in PLACES]
        prompts = [Prompt(project_id=project.id, text=t, position=i) for i, t in enumerate(PROMPTS, start=1)]
        form = ConsentForm(project_id=project.id, version=1, title="Talking with a neighbour",
                           body=CONSENT_BODY, scopes=["audio", "publish", "quote", "share"], created_by=coordinator.id)
        tags = {name: Tag(project_id=project.id, name=name, colour=colour) for name, colour in TAGS.items()}
        session.add_all([*places, *prompts, form, *tags.values()])
        session.flush()
        for tag in tags.values():  # the codebook goes out on the change feed, as any tag made through the API
            feed.record(session, project_id=project.id, entity="tag", entity_id=tag.id)

        made = 0
        start = datetime.now(UTC) - timedelta(days=90)
        while made < fragments:
            researcher = rnd.choice(researchers)
            secret = new_token()
            token = AuthToken(user_id=researcher.id, token_hash=digest(secret), kind=TokenKind.session,
                              expires_at=datetime.now(UTC) + timedelta(minutes=5))
            session.add(token)
            session.flush()
            at = start + timedelta(days=rnd.uniform(0, 88), hours=rnd.uniform(9, 18))
            conv = uuid.uuid4()
            items = [{"type": "conversation", "id": str(conv), "data": {
                "project_id": str(project.id), "place_id": str(rnd.choice(places).id),
                "prompt_ids": [str(p.id) for p in rnd.sample(prompts, 2)], "started_at": at.isoformat()}}]
            for n in range(rnd.randint(1, 3)):
                consent = uuid.uuid4()
                scopes = rnd.choice([["quote", "share", "publish"], ["quote", "share"], ["share"], ["quote"]])
                items.append({"type": "consent", "id": str(consent), "data": {
                    "conversation_id": str(conv), "participant_label": f"P-{rnd.randint(1000, 9999)}",
                    "consent_form_id": str(form.id), "scopes": scopes, "method": rnd.choice(["verbal", "written"]),
                    "given_at": (at + timedelta(minutes=n)).isoformat()}})
                for _ in range(rnd.randint(2, 5)):
                    theme = rnd.choice(list(SAYINGS))
                    kind = "quote" if "quote" in scopes and rnd.random() < 0.6 else rnd.choice(["paraphrase", "observation"])
                    text = rnd.choice(OBSERVATIONS) if kind == "observation" else rnd.choice(SAYINGS[theme])
                    items.append({"type": "fragment", "id": str(uuid.uuid4()), "data": {
                        "conversation_id": str(conv), "consent_id": str(consent), "kind": kind, "text": text,
                        "captured_at": (at + timedelta(minutes=5 + made % 40)).isoformat(),
                        "prompt_id": str(rnd.choice(prompts).id), "sensitive": rnd.random() < 0.05,
                        "answers": {"belong": rnd.randint(0, 100), "mood": rnd.choice(["good", "mixed", "hard"])},
                        "_theme": theme}})
            themes = {i["id"]: i["data"].pop("_theme") for i in items if i["type"] == "fragment"}
            results = sync.process(session, Actor(user=researcher, token=token), "demo", items)
            for r in results:
                if r.status == "created" and r.id in themes:
                    made += 1
                    if rnd.random() < 0.7:
                        session.add(FragmentTag(fragment_id=uuid.UUID(r.id), tag_id=tags[themes[r.id]].id,
                                                tagged_by=coordinator.id))
            token.revoked_at = datetime.now(UTC)
        session.commit()
    return (f"Seeded {PROJECT_NAME!r}: {made} fragments in {len(PLACES)} neighbourhoods.\n"
            f"Log in at /app/ as coordinator@demo.hearken, jo@demo.hearken or sam@demo.hearken "
            f"(admin: admin@demo.hearken), password {password!r}.")


CONSENT_BODY = """We are neighbours trained to listen. We would like to hear what it is like to live here.

- You can stop at any time, and you do not have to answer anything.
- We never write down your name; you are known only by a label like P-4KQ7.
- You choose what we may do with what you say: record your voice, quote your words exactly, share them with
  partner organisations (the council, the NHS), or publish them.
- You can change your mind later. Ask any of us, and everything you said is deleted.
"""
