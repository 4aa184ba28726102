import pytest

pytestmark = pytest.mark.django_db


def test_register_then_me(api_client):
    response = api_client.post(
        "/api/auth/register", {"email": "New@Example.com", "password": "a-long-passphrase-1"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    assert body["user"]["email"] == "new@example.com"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api_client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "new@example.com"
    assert me["X-Request-ID"]
