"""Choosing tools (bot/tool_choice.py) as a pure function: a Request built by hand, a
hand-made catalogue and vocabulary, no text to read."""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalogue import Catalogue, CatalogueTool
from bot.request import Request
from bot.tool_choice import CHEAPER_TOOLS, MAX_TOOLS, choose_tools
from retrieval.vocabulary import INTENT_CUES, DomainVocabulary

VOCABULARY = DomainVocabulary.model_validate(
    {
        "needs": {
            "messages": {
                "label": "les messages clients",
                "keywords": ["whatsapp"],
                "categories": ["messagerie", "automatisation", "assistant"],
            },
            "visuels": {
                "label": "les visuels",
                "keywords": ["affiche"],
                "categories": ["image", "video"],
            },
            "automatisation": {
                "label": "l'automatisation",
                "keywords": ["automatis"],
                "categories": ["automatisation", "assistant"],
            },
        },
        "categories": {
            kind: {"why": "Utile."}
            for kind in ("messagerie", "automatisation", "assistant", "image", "video")
        },
        "intents": {cue: [] for cue in INTENT_CUES},
        "channels": ["whatsapp"],
        "generic_pilot": [{"day": 1, "task": "Mesurer"}, {"day": 14, "task": "Go/no-go"}],
    }
)


def tool(
    tool_id: str, category: str, price: tuple[float, float] | None, *needs: str, **extra: Any
) -> CatalogueTool:
    """A catalogue card with only what tool choice reads."""
    unknown = "sur devis" if price is None else ""
    return CatalogueTool(
        id=tool_id,
        name=tool_id.removeprefix("tool-").title(),
        category=category,
        price=price,
        price_unknown=unknown,
        use_cases=needs,
        **extra,
    )


def request(**fields: Any) -> Request:
    """A Request as bot/understanding.py would build it, without any text."""
    return Request(**{"text": "", "folded": "", "intent": "need", **fields})


def choose(req: Request, tools: list[CatalogueTool], retrieved: tuple[str, ...] = ()) -> list[str]:
    chosen = choose_tools(
        req, retrieved=retrieved, catalogue=Catalogue(tools), vocabulary=VOCABULARY
    )
    return [t.id for t in chosen]


INBOX = tool("tool-inbox", "messagerie", (0, 15), "messages")
FLOW = tool("tool-flow", "automatisation", (0, 20), "messages", "automatisation")
SCRIBE = tool("tool-scribe", "assistant", (0, 22), "messages", "automatisation")
PAINT = tool("tool-paint", "image", (0, 12), "visuels")
CATALOGUE = [INBOX, FLOW, SCRIBE, PAINT]


# --- no tool when none is asked for ---------------------------------------------------


@pytest.mark.parametrize("intent", ["out_of_scope", "subversion"])
def test_a_decline_gets_no_tool(intent: str) -> None:
    req = request(intent=intent, needs=("messages",), tools_named=("tool-inbox",))
    assert choose(req, CATALOGUE) == []


def test_a_plain_information_question_gets_no_tool() -> None:
    req = request(intent="information", topics=("ai-act",), needs=("messages",))
    assert choose(req, CATALOGUE) == []


def test_a_question_on_a_named_tools_hosting_gets_no_tool_pitch() -> None:
    req = request(intent="information", topics=("hosting",), tools_named=("tool-inbox",))
    assert choose(req, CATALOGUE) == []


def test_a_price_question_gets_exactly_the_named_tool() -> None:
    req = request(
        intent="information",
        topics=("tool-price",),
        tools_named=("tool-scribe",),
        needs=("messages",),
        budget=5,
    )
    assert choose(req, CATALOGUE) == ["tool-scribe"]


def test_an_information_question_that_asks_for_tools_gets_the_named_ones() -> None:
    req = request(
        intent="information",
        topics=("hosting",),
        asks_tools=True,
        tools_named=("tool-paint", "tool-inbox"),
    )
    assert choose(req, CATALOGUE) == ["tool-paint", "tool-inbox"]


def test_a_need_the_vocabulary_does_not_know_gets_only_the_named_tools() -> None:
    assert choose(request(needs=("inconnu",)), CATALOGUE) == []
    assert choose(request(tools_named=("tool-flow",)), CATALOGUE) == ["tool-flow"]


# --- tools that serve the need --------------------------------------------------------


def test_a_need_gets_one_tool_of_each_of_its_first_two_kinds() -> None:
    assert choose(request(needs=("messages",)), CATALOGUE) == ["tool-inbox", "tool-flow"]


def test_no_filler_a_tool_of_another_need_never_completes_the_count() -> None:
    other = tool("tool-mural", "video", (0, 5), "autre-chose")
    # "visuels" has image and video kinds; the only video tool serves another need
    assert choose(request(needs=("visuels",)), [*CATALOGUE, other]) == ["tool-paint"]


def test_no_filler_a_third_kind_is_not_used_to_reach_a_count() -> None:
    tools = [INBOX, SCRIBE]  # no automation tool: the assistant (third kind) stays out
    assert choose(request(needs=("messages",)), tools) == ["tool-inbox"]


def test_two_named_of_a_kind_and_a_second_need_make_at_most_max_tools() -> None:
    images = [tool(f"tool-image{n}", "image", (0, n), "visuels") for n in range(4)]
    req = request(
        needs=("visuels", "messages"),
        categories=("image",),
        strong_needs=("visuels", "messages", "automatisation"),
    )
    chosen = choose(req, [*images, *CATALOGUE])
    assert chosen == ["tool-image0", "tool-image1", "tool-inbox"]
    assert len(chosen) == MAX_TOOLS


def test_owner_naming_the_needs_first_kind_gets_two_of_that_kind() -> None:
    second = tool("tool-sketch", "image", (0, 30), "visuels")
    clip = tool("tool-clip", "video", (0, 10), "visuels")
    req = request(needs=("visuels",), categories=("image",))
    assert choose(req, [PAINT, second, clip]) == ["tool-paint", "tool-sketch"]


def test_owner_naming_another_kind_of_the_need_gets_it_first_then_the_needs_own() -> None:
    clip = tool("tool-clip", "video", (0, 10), "visuels")
    reel = tool("tool-reel", "video", (0, 25), "visuels")
    req = request(needs=("visuels",), categories=("video",))
    assert choose(req, [PAINT, clip, reel]) == ["tool-clip", "tool-paint"]


def test_a_named_kind_the_need_does_not_use_is_ignored() -> None:
    req = request(needs=("messages",), categories=("image",))
    assert choose(req, CATALOGUE) == ["tool-inbox", "tool-flow"]


def test_a_tool_named_by_the_owner_ranks_first_in_its_kind() -> None:
    other_inbox = tool("tool-boite", "messagerie", (0, 5), "messages")
    req = request(needs=("messages",), tools_named=("tool-inbox",))
    assert choose(req, [other_inbox, INBOX, FLOW])[0] == "tool-inbox"


def test_the_owners_sector_breaks_a_tie_before_the_search_order() -> None:
    plain = tool("tool-boite", "messagerie", (0, 15), "messages")
    local = tool("tool-resa", "messagerie", (0, 15), "messages", sectors=("restauration",))
    req = request(needs=("messages",), sector="restauration")
    assert choose(req, [plain, local], retrieved=("tool-boite",)) == ["tool-resa"]


def test_the_search_order_ranks_tools_of_one_kind() -> None:
    first = tool("tool-boite", "messagerie", (0, 15), "messages")
    assert choose(request(needs=("messages",)), [INBOX, first], ("tool-boite", "tool-inbox")) == [
        "tool-boite"
    ]


def test_a_second_need_stated_clearly_adds_its_best_tool_of_a_new_kind() -> None:
    req = request(needs=("visuels", "messages"), strong_needs=("visuels", "messages"))
    assert choose(req, CATALOGUE) == ["tool-paint", "tool-inbox"]


# --- budget and price -----------------------------------------------------------------


def test_a_tool_whose_cheapest_offer_exceeds_the_budget_is_excluded() -> None:
    dear = tool("tool-dear", "messagerie", (40, 90), "messages")
    req = request(needs=("messages",), budget=30)
    assert choose(req, [dear, FLOW]) == ["tool-flow"]
    assert choose(request(needs=("messages",)), [dear, FLOW]) == ["tool-dear", "tool-flow"]


def test_a_tool_with_a_free_start_fits_a_small_budget() -> None:
    assert choose(request(needs=("messages",), budget=5), [INBOX]) == ["tool-inbox"]


def test_an_unknown_price_never_fits_a_budget_but_may_be_shown() -> None:
    quote = tool("tool-devis", "messagerie", None, "messages")
    assert not quote.fits(budget=1000)
    assert choose(request(needs=("messages",), budget=30), [quote]) == ["tool-devis"]


def test_a_second_tool_without_a_published_price_is_not_what_overruns_the_budget() -> None:
    dear = tool("tool-dear", "messagerie", (0, 30), "messages")
    quote = tool("tool-quote", "image", None, "visuels")
    req = request(needs=("messages", "visuels"), strong_needs=("messages", "visuels"), budget=15)
    assert choose(req, [dear, quote]) == ["tool-dear", "tool-quote"]
    paint = tool("tool-paint", "image", (0, 20), "visuels")  # this one does overrun it
    assert choose(req, [dear, paint]) == ["tool-dear"]


def test_a_published_price_within_budget_ranks_before_an_unknown_one() -> None:
    quote = tool("tool-devis", "messagerie", None, "messages")
    req = request(needs=("messages",), budget=30)
    assert choose(req, [quote, INBOX], retrieved=("tool-devis",)) == ["tool-inbox"]


# --- tools that cannot work together ---------------------------------------------------

APP = tool("tool-app", "messagerie", (0, 0), "messages", not_with=("automatisation",))


def test_a_tool_that_cannot_work_with_automation_is_never_paired_with_it() -> None:
    chosen = choose(request(needs=("messages",)), [APP, FLOW, SCRIBE])
    assert chosen == ["tool-app"]


def test_when_automation_ranks_first_the_incompatible_tool_is_left_out() -> None:
    req = request(needs=("messages",), categories=("automatisation",))
    chosen = choose(req, [APP, FLOW])
    assert "tool-flow" in chosen and "tool-app" not in chosen


def test_a_second_need_never_pairs_an_incompatible_tool() -> None:
    req = request(needs=("messages", "automatisation"), strong_needs=("messages", "automatisation"))
    chosen = choose(req, [APP, SCRIBE, FLOW])
    assert chosen[0] == "tool-app"
    assert "tool-flow" not in chosen


# --- follow-ups -----------------------------------------------------------------------


def test_cheaper_sorts_by_monthly_max_and_keeps_few() -> None:
    dear_inbox = tool("tool-boite", "messagerie", (0, 60), "messages")
    dear_flow = tool("tool-pipe", "automatisation", (0, 99), "messages")
    req = request(
        intent="follow_up",
        follow_up="cheaper",
        needs=("messages",),
        previous_tools=("tool-boite", "tool-pipe"),
    )
    tools = [dear_inbox, dear_flow, FLOW, INBOX]
    chosen = choose(req, tools, retrieved=("tool-boite", "tool-pipe"))
    assert chosen == ["tool-inbox", "tool-flow"]
    assert len(chosen) <= CHEAPER_TOOLS


def test_another_option_excludes_the_previous_tools() -> None:
    other_inbox = tool("tool-boite", "messagerie", (0, 30), "messages")
    other_flow = tool("tool-pipe", "automatisation", (0, 40), "messages")
    req = request(
        intent="follow_up",
        follow_up="another",
        needs=("messages",),
        previous_tools=("tool-inbox", "tool-flow"),
    )
    chosen = choose(req, [INBOX, FLOW, other_inbox, other_flow])
    assert chosen == ["tool-boite", "tool-pipe"]


def test_another_option_with_nothing_left_is_empty_rather_than_a_repeat() -> None:
    req = request(
        intent="follow_up",
        follow_up="another",
        needs=("messages",),
        previous_tools=("tool-inbox", "tool-flow"),
    )
    assert choose(req, [INBOX, FLOW]) == []


def test_the_cost_follow_up_prices_the_previous_proposal() -> None:
    req = request(
        intent="follow_up",
        follow_up="cost",
        needs=("visuels",),
        previous_tools=("tool-flow", "tool-gone", "tool-inbox"),
    )
    assert choose(req, CATALOGUE) == ["tool-flow", "tool-inbox"]


def test_a_fact_follow_up_on_a_price_gets_the_named_tool() -> None:
    req = request(
        intent="follow_up",
        follow_up="fact",
        topics=("tool-price",),
        tools_named=("tool-scribe",),
        needs=("messages",),
    )
    assert choose(req, CATALOGUE) == ["tool-scribe"]


def test_a_free_tier_with_unpublished_prices_is_ranked_by_the_search() -> None:
    widget = tool("tool-widget", "messagerie", None, "messages", free_tier="Gratuit, 50 par mois")
    req = request(needs=("messages",))
    assert choose(req, [INBOX, widget], retrieved=("tool-widget", "tool-inbox"))[0] == "tool-widget"


def test_a_channel_the_owner_names_comes_first() -> None:
    whatsapp = tool("tool-whatsapp-pro", "messagerie", (0, 17), "messages")
    whatsapp = CatalogueTool(**{**whatsapp.__dict__, "name": "Application WhatsApp Pro"})
    req = Request(text="", folded="mon chatbot whatsapp", intent="need", needs=("messages",))
    assert choose(req, [INBOX, whatsapp], retrieved=("tool-inbox",))[0] == "tool-whatsapp-pro"


def test_a_product_name_typed_is_no_channel_and_ranks_by_fit() -> None:
    """ "Mistral ou DeepSeek ?" from a law firm: the EU-hosted one first, whatever was typed."""
    eu = tool("tool-euchat", "assistant", (0, 15), "messages", hosting_region="eu")
    far = tool("tool-farseek", "assistant", (0, 0), "messages")
    far = CatalogueTool(**{**far.__dict__, "name": "Application Farseek"})
    req = request(
        folded="mistral ou farseek",
        needs=("messages",),
        tools_named=("tool-euchat", "tool-farseek"),
        sensitive_trade=True,
    )
    assert choose(req, [far, eu]) == ["tool-euchat", "tool-farseek"]


# --- the owner's constraints: where data goes, what it costs, who runs it ------------------


def test_an_owner_who_wants_european_tools_gets_only_those() -> None:
    us_inbox = tool(
        "tool-us-inbox", "messagerie", (0, 5), "messages", hosting_region="self-hostable"
    )
    eu_inbox = tool(
        "tool-eu-inbox", "messagerie", (0, 9), "messages", hosting_region="eu", country="France"
    )

    assert choose(request(needs=("messages",)), [us_inbox]) == ["tool-us-inbox"]
    assert choose(request(needs=("messages",), eu_only=True), [us_inbox]) == []
    assert choose(request(needs=("messages",), eu_only=True), [us_inbox, eu_inbox]) == [
        "tool-eu-inbox"
    ]


def test_a_cheaper_follow_up_never_costs_more_than_the_proposal() -> None:
    # the proposal was the free inbox alone; the "cheapest" pair would cost more
    req = request(needs=("messages",), follow_up="cheaper", previous_tools=("tool-inbox",))

    assert choose(req, CATALOGUE) == ["tool-inbox"]


def test_a_developer_kind_of_tool_only_for_a_technical_owner() -> None:
    vocabulary = VOCABULARY.model_copy(
        update={
            "needs": {
                **VOCABULARY.needs,
                "messages": VOCABULARY.needs["messages"].model_copy(
                    update={"categories": ("llm-api", "messagerie")}
                ),
            },
            "categories": {
                **VOCABULARY.categories,
                "llm-api": VOCABULARY.categories["assistant"].model_copy(
                    update={"technical": True}
                ),
            },
        }
    )
    api = tool("tool-api", "llm-api", (0, 1), "messages")
    tools = Catalogue([api, INBOX])

    def chosen(req: Request) -> list[str]:
        found = choose_tools(req, retrieved=(), catalogue=tools, vocabulary=vocabulary)
        return [t.id for t in found]

    assert chosen(request(needs=("messages",))) == ["tool-inbox"]
    assert chosen(request(needs=("messages",), sector="logiciel-tech"))[0] == "tool-api"


def test_a_self_hosted_tool_comes_after_a_hosted_one_for_a_shop() -> None:
    server = tool("tool-server", "messagerie", (0, 0), "messages", hosting_region="self-hostable")
    hosted = tool("tool-hosted", "messagerie", (0, 8), "messages", hosting_region="eu")

    assert choose(request(needs=("messages",)), [server, hosted])[0] == "tool-hosted"


def test_a_cheaper_follow_up_on_another_need_is_not_compared_with_the_last_proposal() -> None:
    req = request(needs=("visuels",), follow_up="cheaper", previous_tools=("tool-scribe",))

    assert choose(req, CATALOGUE) == ["tool-paint"]


def test_a_one_trade_tool_stays_out_when_the_trade_is_unknown_and_a_broad_one_serves() -> None:
    broad = tool("tool-agenda", "messagerie", (0, 10), "messages", sectors=("sante", "commerce"))
    narrow = tool("tool-resto", "messagerie", (0, 5), "messages", sectors=("restauration",))
    assert choose(request(needs=("messages",), categories=("messagerie",)), [broad, narrow]) == [
        "tool-agenda"
    ]
    # a restaurant owner gets the restaurant's tool first
    owner = request(needs=("messages",), categories=("messagerie",), sector="restauration")
    assert choose(owner, [broad, narrow])[0] == "tool-resto"


def test_a_bot_gets_the_card_automation_can_drive() -> None:
    app = tool("tool-app", "messagerie", (0, 0), "messages", not_with=("automatisation",))
    platform = tool("tool-platform", "messagerie", (0, 17), "messages")
    assert choose(request(needs=("messages",)), [app, platform])[0] == "tool-app"
    assert choose(request(needs=("messages",), asks_bot=True), [app, platform])[0] == (
        "tool-platform"
    )


def test_no_second_need_tool_stands_in_for_a_task_nothing_serves() -> None:
    image = tool("tool-image", "image", (0, 10), "visuels")
    req = request(needs=("messages", "visuels"), strong_needs=("messages", "visuels"))
    assert choose(req, [image]) == []


def test_an_owner_asking_for_the_cheapest_gets_the_cheapest_first() -> None:
    dear = tool("tool-dear", "image", (9, 28), "visuels")
    cheap = tool("tool-cheap", "image", (0, 12), "visuels")
    retrieved = ("tool-dear", "tool-cheap")  # the search ranks the dearer one higher
    assert choose(request(needs=("visuels",)), [dear, cheap], retrieved)[0] == "tool-dear"
    cheapest = request(needs=("visuels",), wants_cheap=True)
    assert choose(cheapest, [dear, cheap], retrieved) == ["tool-cheap"]


def test_a_tool_made_for_the_owners_trade_alone_comes_before_a_many_trades_one() -> None:
    salons = tool("tool-salons", "messagerie", None, "messages", sectors=("beaute",))
    agenda = tool("tool-agenda", "messagerie", (0, 10), "messages", sectors=("beaute", "sante"))
    owner = request(needs=("messages",), categories=("messagerie",), sector="beaute")
    assert choose(owner, [agenda, salons])[0] == "tool-salons"  # even with no published price


def test_tools_the_owner_names_are_compared_whatever_their_kind() -> None:
    clip = tool("tool-clip", "video", (0, 30), "visuels")
    req = request(
        needs=("visuels",), categories=("image",), tools_named=("tool-clip", "tool-paint")
    )
    assert set(choose(req, [*CATALOGUE, clip])[:2]) == {"tool-clip", "tool-paint"}


def test_a_tool_for_many_trades_serves_another_trade_but_one_for_a_single_trade_does_not() -> None:
    many = tool("tool-many", "messagerie", None, "messages", sectors=("a", "b", "c"))
    single = tool("tool-single", "messagerie", (0, 5), "messages", sectors=("a",))
    owner = request(needs=("messages",), categories=("messagerie",), sector="sante")
    assert choose(owner, [many, single]) == ["tool-many"]


def test_a_product_without_a_card_gets_the_catalogues_tools_of_its_kind() -> None:
    vocabulary = VOCABULARY.model_copy(update={"other_products": {"Fresco": "image"}})
    req = request(intent="information", other_products=("Fresco",))
    chosen = choose_tools(req, retrieved=(), catalogue=Catalogue(CATALOGUE), vocabulary=vocabulary)
    assert [t.id for t in chosen] == ["tool-paint"]


def test_one_tool_named_as_where_the_task_is_is_not_proposed_for_another_kind() -> None:
    # "mes commandes Shopify à relier à la facturation": the shop is context, not the tool asked
    req = request(needs=("automatisation",), tools_named=("tool-paint",))
    assert "tool-paint" not in choose(req, CATALOGUE)


def test_the_proposal_fits_the_budget_in_all_not_only_tool_by_tool() -> None:
    req = request(needs=("messages",), budget=30.0)
    assert choose(req, CATALOGUE) == ["tool-inbox"]  # 15 € + 20 € would be 35 €
    assert len(choose(request(needs=("messages",), budget=100.0), CATALOGUE)) >= 2


def test_a_tool_made_for_a_channel_the_owner_did_not_name_comes_after_the_others() -> None:
    vocabulary = VOCABULARY.model_copy(update={"channels": ("chatgram",)})
    channel = tool("tool-chatgram", "messagerie", (0, 0), "messages")
    neutral = tool("tool-inbox", "messagerie", (0, 15), "messages")

    def first(req: Request) -> str:
        chosen = choose_tools(
            req, retrieved=(), catalogue=Catalogue([channel, neutral]), vocabulary=vocabulary
        )
        return chosen[0].id

    assert first(request(needs=("messages",))) == "tool-inbox"
    named = Request(text="", folded="mes messages chatgram", intent="need", needs=("messages",))
    assert first(named) == "tool-chatgram"


def test_data_kept_home_leaves_out_tools_that_send_it_abroad() -> None:
    abroad = tool("tool-abroad", "messagerie", (0, 5), "messages", hosting_region="outside-eu")
    home = tool("tool-home", "messagerie", (0, 15), "messages", hosting_region="self-hostable")
    req = request(needs=("messages",), categories=("messagerie",), data_home=True)
    assert choose(req, [abroad, home]) == ["tool-home"]


def test_a_need_proposing_one_kind_compares_two_tools_of_it() -> None:
    one_kind = VOCABULARY.model_copy(
        update={
            "needs": {
                **VOCABULARY.needs,
                "messages": VOCABULARY.needs["messages"].model_copy(update={"default_kinds": 1}),
            }
        }
    )
    other_inbox = tool("tool-inbox2", "messagerie", (0, 9), "messages")
    chosen = choose_tools(
        request(needs=("messages",)),
        retrieved=(),
        catalogue=Catalogue([*CATALOGUE, other_inbox]),
        vocabulary=one_kind,
    )
    assert {t.category for t in chosen} == {"messagerie"} and len(chosen) == 2


def test_an_owner_wanting_it_cheap_still_gets_the_channel_named_first() -> None:
    app = tool("tool-whatsapp-app", "messagerie", (0, 0), "messages", hosting_region="outside-eu")
    mailer = tool("tool-mailer", "messagerie", (0, 0), "messages", hosting_region="eu")
    cheap = request(
        needs=("messages",), categories=("messagerie",), wants_cheap=True, folded="whatsapp"
    )
    assert choose(cheap, [mailer, app])[0] == "tool-whatsapp-app"  # not the EU one on a tie


def test_an_api_to_build_on_is_for_a_technical_owner_only() -> None:
    api = tool("tool-api", "image", (0, 5), "visuels", for_developers=True)
    assert choose(request(needs=("visuels",)), [api, PAINT]) == ["tool-paint"]
    developer = request(needs=("visuels",), sector="logiciel-tech")
    assert "tool-api" in choose(developer, [api, PAINT])


def test_a_health_or_law_practice_gets_the_tools_keeping_data_home_first() -> None:
    abroad = tool("tool-abroad", "messagerie", (0, 5), "messages", hosting_region="outside-eu")
    home = tool("tool-home", "messagerie", (0, 15), "messages", hosting_region="eu")
    practice = request(needs=("messages",), categories=("messagerie",), sensitive_trade=True)
    assert choose(practice, [abroad, home], ("tool-abroad",))[0] == "tool-home"
    other = request(needs=("messages",), categories=("messagerie",))
    assert choose(other, [abroad, home], ("tool-abroad",))[0] == "tool-abroad"


def test_a_kind_named_by_the_second_needs_words_does_not_steer_the_first() -> None:
    said_for_messages = request(needs=("messages",), categories=("assistant",))
    assert choose(said_for_messages, [SCRIBE, INBOX])[0] == "tool-scribe"
    # the same kind named inside the second need's words ("…et les textes")
    said_for_second = request(
        needs=("messages", "visuels"),
        categories=("assistant",),
        kind_of_needs=(("assistant", ("visuels",)),),
    )
    assert choose(said_for_second, [SCRIBE, INBOX])[0] == "tool-inbox"


def test_a_tool_keeping_data_in_china_comes_after_the_others() -> None:
    china = tool("tool-china", "assistant", (0, 0), "messages", country="Chine")
    home = tool("tool-home", "assistant", (0, 15), "messages", hosting_region="eu")
    cheap = request(needs=("messages",), categories=("assistant",), wants_cheap=True)
    assert choose(cheap, [china, home])[0] == "tool-home"  # though it costs more


def test_a_tool_listing_many_trades_is_no_closer_to_the_owner_than_one_for_all() -> None:
    many = ("commerce", "e-commerce", "architecture", "creation")
    listing = tool("tool-listing", "image", (0, 20), "visuels", sectors=many)
    for_all = tool("tool-for-all", "image", (0, 12), "visuels", sectors=("tous",))
    florist = request(needs=("visuels",), sector="commerce")
    assert choose(florist, [listing, for_all], ("tool-for-all",))[0] == "tool-for-all"
    two = tool("tool-two", "image", (0, 20), "visuels", sectors=("commerce", "e-commerce"))
    assert choose(florist, [two, for_all], ("tool-for-all",))[0] == "tool-two"


def test_a_kind_asked_for_by_name_is_the_only_kind_proposed() -> None:
    """ "quel assistant prendre pour nos mails ?": two assistants, not a mailing tool."""
    req = request(needs=("messages",), categories=("assistant",), asks_tools=True)
    assert choose(req, CATALOGUE) == ["tool-scribe"]
    told = request(needs=("messages",), categories=("assistant",))  # named, not asked for
    assert choose(told, CATALOGUE)[:2] == ["tool-scribe", "tool-inbox"]


def test_asked_for_free_the_proposals_free_tools_stay_and_data_kept_in_reach_comes_first() -> None:
    free_writer = tool("tool-free-writer", "assistant", (0, 0), "messages")
    abroad = tool("tool-abroad", "assistant", (0, 0), "messages", country="Chine")
    # the proposal was the free writer and the inbox (free to start): "et gratuit ?"
    req = request(
        needs=("messages",),
        follow_up="cheaper",
        budget=0.0,
        previous_tools=("tool-free-writer", "tool-inbox"),
    )
    assert choose(req, [*CATALOGUE, free_writer, abroad]) == ["tool-free-writer", "tool-inbox"]
    # no proposal: the free tool that keeps data in reach before the one in China
    fresh = request(needs=("messages",), follow_up="cheaper", budget=0.0)
    inbox_abroad = tool("tool-inbox-abroad", "messagerie", (0, 0), "messages", country="Chine")
    inbox_here = tool("tool-inbox-here", "messagerie", (0, 30), "messages")
    assert choose(fresh, [inbox_abroad, inbox_here])[0] == "tool-inbox-here"
