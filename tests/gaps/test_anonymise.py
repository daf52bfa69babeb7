"""Personal data masked in realistic owners' messages, and nothing else touched."""

from __future__ import annotations

import pytest

from bot.anonymise import anonymise, strip_masks


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        (
            "Bonjour, je m'appelle Marie Dupont et je tiens une boulangerie à Lyon",
            "Bonjour, je m'appelle [nom] et je tiens une boulangerie à Lyon",
        ),
        (
            "je m'appelle karim, plombier, comment faire mes devis plus vite ?",
            "je m'appelle [nom], plombier, comment faire mes devis plus vite ?",
        ),
        (
            "Je suis Jean-Pierre Martin, artisan électricien, un outil pour la compta ?",
            "Je suis [nom], artisan électricien, un outil pour la compta ?",
        ),
        (
            "écris-moi un poème pour l'anniversaire de ma femme, elle s'appelle Sophie",
            "écris-moi un poème pour l'anniversaire de ma femme, elle s'appelle [nom]",
        ),
        ("moi c'est Nadia, je tiens un salon", "moi c'est [nom], je tiens un salon"),
        (
            "j'ai vu Mme Durand et M. Martin à la CCI, Monsieur Bernard aussi",
            "j'ai vu Mme [nom] et M. [nom] à la CCI, Monsieur [nom] aussi",
        ),
        (
            "Quel outil pour répondre aux avis Google ? Cordialement, Paul Leroy",
            "Quel outil pour répondre aux avis Google ? Cordialement, [nom]",
        ),
    ],
)
def test_names(message: str, masked: str) -> None:
    assert anonymise(message) == masked


@pytest.mark.parametrize(
    "phone",
    [
        "06 12 34 56 78",
        "0612345678",
        "06.12.34.56.78",
        "01-23-45-67-89",
        "+33 6 12 34 56 78",
        "+33612345678",
        "+33 (0)6 12 34 56 78",
        "0033 6 12 34 56 78",
        "+32 470 12 34 56",
    ],
)
def test_phone_numbers(phone: str) -> None:
    assert anonymise(f"rappelez-moi au {phone} svp") == "rappelez-moi au [téléphone] svp"


def test_emails_urls_iban_siret_and_addresses() -> None:
    message = (
        "écrivez à marie.dupont@boulangerie-dupont.fr, le site https://www.dupont.fr/commandes "
        "et www.exemple.com plantent. Virement sur FR76 3000 6000 0112 3456 7890 189, "
        "SIRET 123 456 789 00012, siren 987654321, TVA FR12 987654321. "
        "Le salon est au 12 rue des Lilas à Lyon."
    )
    assert anonymise(message) == (
        "écrivez à [e-mail], le site [url] et [url] plantent. Virement sur [iban], "
        "SIRET [siret], siren [siret], TVA [siret]. Le salon est au [adresse] à Lyon."
    )


@pytest.mark.parametrize(
    "message",
    [
        "je suis plombier à Nantes, quel logiciel pour mes factures ?",
        "combien coûte ChatGPT Plus, 20 € par mois ? j'ai 1 500 000 € de CA en 2024",
        "mon horoscope de la semaine, je suis balance",
        "comment s'appelle l'outil qui fait les devis ?",
        "je fais 120 000 000 de chiffre, FR76 pour tout",
        "Merci ChatGPT",
        "AI Act : quelles obligations pour une petite entreprise ?",
        "3x + 2 = 11, x = ?",
    ],
)
def test_ordinary_questions_are_left_alone(message: str) -> None:
    assert anonymise(message) == message


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        (
            "slt le planning de mes employés, rappelez-moi au 06 12 34 56 78",
            "slt le planning de mes employés",
        ),
        (
            "mon bailleur augmente le loyer, c'est légal ? Cordialement, Jean Dupont",
            "mon bailleur augmente le loyer, c'est légal ?",
        ),
        (
            "Je suis Karim, plombier, un outil pour mes devis ?",
            "plombier, un outil pour mes devis ?",
        ),
        ("mon site www.dupont.fr est lent, que faire ?", "mon site est lent, que faire ?"),
        ("quel outil pour mes devis ?", "quel outil pour mes devis ?"),
    ],
)
def test_strip_masks_keeps_what_is_asked(message: str, asked: str) -> None:
    assert strip_masks(anonymise(message)) == asked
